/* The demo page: the book's trained AlexNet on the reader's own garment, in the browser.
 *
 * The page (book/<lang>/demo.md) holds a <div id="d2lite-demo"> whose data attributes give the
 * models' folder (its manifest.json names the model and its size), the runtime's folder, the
 * test images and the page's words. Nothing heavy loads
 * with the page: onnxruntime-web (WebAssembly) and the int8 model are fetched when the reader
 * presses the load button, with a progress bar. An image reaches the network through
 * preprocess.js (the browser's copy of d2lite.prepare_image): drawn on the canvas, uploaded,
 * or one of the data set's test images. The page shows the 28 x 28 input and the top classes.
 */
(() => {
  const root = document.getElementById("d2lite-demo");
  if (!root) return;
  const text = JSON.parse(root.dataset.text);
  const classes = JSON.parse(root.dataset.classes);
  const $ = (sel) => root.querySelector(sel);
  const status = $(".demo-status");
  const say = (message, isError = false) => {
    status.textContent = message;
    status.classList.toggle("demo-error", isError);
  };
  let session = null;
  let pending = null; // an image chosen before the model was loaded

  // --- Loading the runtime and the model, on request -------------------------------------
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = () => reject(new Error(`${text.failed}: ${src}`));
      document.head.appendChild(s);
    });
  }

  async function fetchWithProgress(url, bar) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(response.status === 404 ? text.noModel : `${text.failed}: ${url} (${response.status})`);
    const total = Number(response.headers.get("Content-Length")) || Number(root.dataset.modelBytes);
    const reader = response.body.getReader();
    const chunks = [];
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      bar.value = total ? received / total : 0;
    }
    const bytes = new Uint8Array(received);
    let offset = 0;
    for (const c of chunks) { bytes.set(c, offset); offset += c.length; }
    return bytes;
  }

  async function loadModel() {
    const button = $(".demo-load");
    const bar = $(".demo-progress");
    button.disabled = true;
    bar.hidden = false;
    try {
      const t0 = performance.now();
      say(text.loading);
      await loadScript(root.dataset.runtime + "ort.wasm.min.js");
      window.ort.env.wasm.wasmPaths = new URL(root.dataset.runtime, location.href).href; // not relative to ort.js
      window.ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
      const bytes = await fetchWithProgress(root.dataset.model, bar);
      session = await window.ort.InferenceSession.create(bytes, { executionProviders: ["wasm"] });
      root.dataset.loadMs = String(Math.round(performance.now() - t0));
      say(text.ready);
      button.hidden = true;
      root.dataset.state = "ready";
      if (pending) classify(pending);
    } catch (err) {
      say(location.protocol === "file:" ? text.fromFile : err.message, true);
      button.disabled = false;
      root.dataset.state = "error";
    } finally {
      bar.hidden = true;
    }
  }

  // --- From any picture to the network's answer --------------------------------------------
  function show28(pixels) {
    const view = $(".demo-input");
    const ctx = view.getContext("2d");
    const img = ctx.createImageData(28, 28);
    pixels.forEach((v, i) => {
      const g = Math.round(v * 255);
      img.data.set([g, g, g, 255], 4 * i);
    });
    ctx.putImageData(img, 0, 0);
  }

  function showResult(probs) {
    const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 3);
    const list = $(".demo-result");
    list.replaceChildren(...order.map((k) => {
      const li = document.createElement("li");
      const pct = (100 * probs[k]).toFixed(1);
      li.innerHTML = `<span class="demo-class"></span> <meter min="0" max="1"></meter> <span class="demo-pct"></span>`;
      li.querySelector(".demo-class").textContent = classes[k];
      li.querySelector("meter").value = probs[k];
      li.querySelector("meter").setAttribute("aria-label", `${classes[k]}: ${pct}%`);
      li.querySelector(".demo-pct").textContent = `${pct}%`;
      return li;
    }));
    root.dataset.top = String(order[0]);
    root.dataset.probs = JSON.stringify(Array.from(probs));
  }

  async function classify(imageData) {
    let pixels;
    try {
      pixels = window.d2litePreprocess.prepare(imageData);
    } catch (err) {
      say(err.message === "blank" ? text.blank : err.message, true);
      return;
    }
    show28(pixels);
    root.dataset.input = JSON.stringify(Array.from(pixels));
    if (!session) {
      pending = imageData;
      say(text.loadFirst);
      return;
    }
    const t0 = performance.now();
    const input = new window.ort.Tensor("float32", pixels, [1, 1, 28, 28]);
    const output = await session.run({ image: input });
    root.dataset.inferMs = String(Math.round(performance.now() - t0));
    showResult(output.probabilities.data);
    say(`${text.done} (${root.dataset.inferMs} ms)`);
    root.dataset.state = "answered";
  }

  function imageDataOf(source, width, height) {
    const c = document.createElement("canvas");
    c.width = width;
    c.height = height;
    const ctx = c.getContext("2d");
    ctx.drawImage(source, 0, 0);
    return ctx.getImageData(0, 0, width, height);
  }

  async function classifyUrl(url) {
    const img = new Image();
    img.src = url;
    try {
      await img.decode();
    } catch {
      say(text.notImage, true);
      return;
    }
    classify(imageDataOf(img, img.naturalWidth, img.naturalHeight));
  }

  // --- The three ways in -------------------------------------------------------------------
  const pad = $(".demo-pad");
  const pen = pad.getContext("2d");
  const clear = () => {
    pen.fillStyle = "#000";
    pen.fillRect(0, 0, pad.width, pad.height);
  };
  clear();
  let drawing = false;
  const at = (e) => {
    const r = pad.getBoundingClientRect();
    return [((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height];
  };
  pad.addEventListener("pointerdown", (e) => {
    drawing = true;
    pad.setPointerCapture(e.pointerId);
    pen.beginPath();
    pen.moveTo(...at(e));
  });
  pad.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    pen.lineTo(...at(e));
    pen.strokeStyle = "#fff";
    pen.lineWidth = 18;
    pen.lineCap = pen.lineJoin = "round";
    pen.stroke();
  });
  const finish = () => {
    if (!drawing) return;
    drawing = false;
    classify(pen.getImageData(0, 0, pad.width, pad.height));
  };
  pad.addEventListener("pointerup", finish);
  pad.addEventListener("pointercancel", finish);
  $(".demo-clear").addEventListener("click", clear);
  $(".demo-load").addEventListener("click", loadModel);
  $(".demo-file").addEventListener("change", (e) => {
    const file = e.target.files[0];
    if (file) classifyUrl(URL.createObjectURL(file));
  });
  const samples = $(".demo-samples");
  for (const [file, label] of JSON.parse(root.dataset.samples)) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "demo-sample";
    const img = document.createElement("img");
    img.src = root.dataset.sampleDir + file;
    img.alt = label;
    img.width = img.height = 56;
    b.append(img);
    b.addEventListener("click", () => classifyUrl(img.src));
    samples.append(b);
  }

  // --- Before anything loads: is there a model, and how big is it? ------------------------
  // tools/build_book.py writes models/manifest.json: {"model": file name or null, "bytes": N}.
  async function checkModel() {
    const button = $(".demo-load");
    if (location.protocol === "file:") {
      say(text.fromFile, true);
      button.disabled = true;
      root.dataset.state = "file";
      return;
    }
    try {
      const manifest = await (await fetch(root.dataset.models + "manifest.json")).json();
      if (!manifest.model) throw new Error("no model");
      root.dataset.model = root.dataset.models + manifest.model;
      root.dataset.modelBytes = String(manifest.bytes);
      button.textContent = `${text.load} (${(manifest.bytes / 2 ** 20).toFixed(0)} MB)`;
      root.dataset.state = "idle";
    } catch {
      say(text.noModel, true);
      button.disabled = true;
      root.dataset.state = "no-model";
    }
  }
  checkModel();
})();
