/* Chapter 1's gradient control on the static site: no kernel, no network.
 *
 * The notebook cell after the ipywidgets control computes every view that control offers (both
 * activations at depths 1 to 24: each linear layer's weight-gradient norm) and writes them into
 * <div class="grad-explorer" data-explorer="{lang, depth, views: {name: {depth: [norms]}}}">.
 * This script turns that div into a small control: a menu (sigmoid, ReLU or both), a depth
 * slider and an SVG plot on a log scale, which is redrawn from the stored numbers whenever the
 * reader moves the slider. The plot's text alternative (aria-label and the caption under it)
 * describes the curve shown, in the page's language.
 */
(() => {
  const TEXT = {
    en: {
      activation: "activation",
      depth: "depth",
      both: "both",
      xlabel: "linear layer (1 = input end)",
      ylabel: "weight gradient norm",
      title: (d) => `per-layer gradients, ${d}-layer network`,
      describe: (name, depth, n, first, last) =>
        `${name}, ${depth}-layer network: the weight-gradient norms of its ${n} linear layers, ` +
        `on a log scale, run from ${first} at the input end to ${last} at the output end.`,
      intro: "Move the slider or pick an activation; the figure is redrawn from results computed " +
        "when the notebook ran (seed 0).",
    },
    zh: {
      activation: "激活函数",
      depth: "层数",
      both: "两者",
      xlabel: "第几个全连接层（1 = 输入端）",
      ylabel: "权重梯度的范数",
      title: (d) => `${d} 层网络中各层的梯度`,
      describe: (name, depth, n, first, last) =>
        `${name}，${depth} 层网络：${n} 个全连接层的权重梯度范数（对数坐标），` +
        `从输入端的 ${first} 变化到输出端的 ${last}。`,
      intro: "拖动滑块或选择激活函数，图会用 notebook 运行时算好的结果（随机种子 0）重画。",
    },
  };
  const SVG = "http://www.w3.org/2000/svg";
  const W = 520, H = 320, M = { left: 64, right: 16, top: 28, bottom: 48 };
  const fmt = (v) => v.toExponential(1).replace("e+", "e");

  function el(tag, attrs = {}, ns = null) {
    const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  function build(root, index) {
    const data = JSON.parse(root.dataset.explorer);
    const lang = (document.documentElement.lang || data.lang || "en").startsWith("zh") ? "zh" : "en";
    const t = TEXT[lang];
    const names = Object.keys(data.views);
    const depths = Object.keys(data.views[names[0]]).map(Number);
    // One y range for every view, so that moving the slider shows real change.
    const all = names.flatMap((n) => depths.flatMap((d) => data.views[n][d])).filter((v) => v > 0);
    const lo = Math.floor(Math.log10(Math.min(...all)));
    const hi = Math.ceil(Math.log10(Math.max(...all)));

    const id = `grad-explorer-${index}`;
    const figure = el("figure", { class: "grad-explorer__figure" });
    const intro = el("p", { class: "grad-explorer__intro" });
    intro.textContent = t.intro;
    const controls = el("div", { class: "grad-explorer__controls" });
    const select = el("select", { id: `${id}-activation` });
    for (const value of [...names, "both"]) {
      const option = el("option", { value });
      option.textContent = value === "both" ? t.both : value;
      select.append(option);
    }
    select.value = names[0];
    const slider = el("input", {
      type: "range", id: `${id}-depth`, min: Math.min(...depths), max: Math.max(...depths),
      step: 1, value: data.depth,
    });
    const output = el("output", { for: `${id}-depth`, id: `${id}-depth-value` });
    const selectLabel = el("label", { for: select.id });
    selectLabel.textContent = t.activation;
    const sliderLabel = el("label", { for: slider.id });
    sliderLabel.textContent = t.depth;
    controls.append(selectLabel, select, sliderLabel, slider, output);

    const svg = el("svg", {
      viewBox: `0 0 ${W} ${H}`, role: "img", class: "grad-explorer__plot",
      "aria-describedby": `${id}-caption`,
    }, SVG);
    const caption = el("figcaption", { id: `${id}-caption`, class: "grad-explorer__caption" });
    figure.append(intro, controls, svg, caption);
    root.replaceChildren(figure);

    const x0 = M.left, x1 = W - M.right, y0 = H - M.bottom, y1 = M.top;
    const yOf = (v) => y0 - ((Math.log10(v) - lo) / (hi - lo)) * (y0 - y1);

    function text(x, y, s, attrs = {}) {
      const node = el("text", { x, y, ...attrs }, SVG);
      node.textContent = s;
      svg.append(node);
    }

    function draw() {
      const depth = Number(slider.value);
      const shown = select.value === "both" ? names : [select.value];
      output.textContent = String(depth);
      svg.replaceChildren();
      const n = depth + 1; // linear layers: depth blocks + the output layer
      const xOf = (i) => x0 + (n === 1 ? 0.5 : (i - 1) / (n - 1)) * (x1 - x0);
      svg.append(el("path", { d: `M${x0},${y1}V${y0}H${x1}`, class: "grad-explorer__axis" }, SVG));
      for (let e = lo; e <= hi; e += Math.max(1, Math.ceil((hi - lo) / 8))) {
        const y = yOf(10 ** e);
        svg.append(el("path", { d: `M${x0 - 4},${y}H${x1}`, class: "grad-explorer__grid" }, SVG));
        text(x0 - 8, y + 4, `1e${e}`, { "text-anchor": "end" });
      }
      const step = Math.max(1, Math.ceil(n / 12));
      for (let i = 1; i <= n; i += step) text(xOf(i), y0 + 18, String(i), { "text-anchor": "middle" });
      text((x0 + x1) / 2, H - 8, t.xlabel, { "text-anchor": "middle" });
      text(14, (y0 + y1) / 2, t.ylabel, {
        "text-anchor": "middle", transform: `rotate(-90 14 ${(y0 + y1) / 2})`,
      });
      text((x0 + x1) / 2, 16, t.title(depth), { "text-anchor": "middle", class: "grad-explorer__title" });
      const sentences = [];
      shown.forEach((name) => {
        const norms = data.views[name][depth];
        const d = norms.map((v, k) => `${k ? "L" : "M"}${xOf(k + 1).toFixed(1)},${yOf(v).toFixed(1)}`);
        svg.append(el("path", {
          d: d.join(""), class: `grad-explorer__line grad-explorer__line--${names.indexOf(name)}`,
          "data-activation": name,
        }, SVG));
        norms.forEach((v, k) => svg.append(el("circle", {
          cx: xOf(k + 1).toFixed(1), cy: yOf(v).toFixed(1), r: 3,
          class: `grad-explorer__dot grad-explorer__line--${names.indexOf(name)}`,
        }, SVG)));
        sentences.push(t.describe(name, depth, norms.length, fmt(norms[0]), fmt(norms[norms.length - 1])));
      });
      shown.forEach((name, k) => {
        const y = y1 + 14 + 16 * k;
        svg.append(el("path", { d: `M${x1 - 90},${y - 4}h18`, class: `grad-explorer__line grad-explorer__line--${names.indexOf(name)}` }, SVG));
        text(x1 - 66, y, name);
      });
      const label = sentences.join(" ");
      svg.setAttribute("aria-label", label);
      caption.textContent = label;
    }

    select.addEventListener("change", draw);
    slider.addEventListener("input", draw);
    draw();
  }

  function init() {
    document.querySelectorAll(".grad-explorer[data-explorer]").forEach(build);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
