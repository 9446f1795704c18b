/* Any image as Fashion-MNIST holds one: the browser's copy of d2lite.prepare_image.
 *
 * Same steps, same arithmetic (d2lite/your_image.py explains each one; tests/test_demo.py
 * checks the two against each other on the same images):
 * 1. greyscale with ITU-R 601 weights, transparent pixels as white paper;
 * 2. inverted when the border's median is light (Fashion-MNIST: light garment on black);
 * 3. background to 0, brightest pixel to 1;
 * 4. cropped to the garment (above 5% of the range), longer side scaled to 28 by area
 *    averaging (torch's adaptive_avg_pool2d windows), centred on a black 28 x 28 canvas.
 * prepare(imageData) takes a canvas ImageData (RGBA bytes) and returns a Float32Array of
 * 28 * 28 values in [0, 1], row by row, or throws an Error whose message says what was wrong.
 */
(() => {
  const SIDE = 28;
  const FOREGROUND = 0.05;

  function grey({ data, width, height }) {
    const x = new Float64Array(width * height);
    for (let i = 0; i < x.length; i++) {
      const a = data[4 * i + 3] / 255;
      let luma = 0;
      [0.299, 0.587, 0.114].forEach((w, c) => {
        luma += w * ((data[4 * i + c] / 255) * a + (1 - a));
      });
      x[i] = luma;
    }
    return x;
  }

  function median(values) {
    const v = Float64Array.from(values).sort();
    const mid = v.length >> 1;
    return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  }

  function border(x, w, h) {
    const out = [];
    for (let c = 0; c < w; c++) out.push(x[c]);
    for (let c = 0; c < w; c++) out.push(x[(h - 1) * w + c]);
    for (let r = 1; r < h - 1; r++) out.push(x[r * w]);
    for (let r = 1; r < h - 1; r++) out.push(x[r * w + w - 1]);
    return out;
  }

  // torch's adaptive_avg_pool2d: output cell i averages input rows floor(i*n/m) .. ceil((i+1)*n/m)
  function areaResize(x, w, h, w2, h2) {
    const out = new Float64Array(w2 * h2);
    for (let i = 0; i < h2; i++) {
      const r0 = Math.floor((i * h) / h2), r1 = Math.floor(((i + 1) * h + h2 - 1) / h2);
      for (let j = 0; j < w2; j++) {
        const c0 = Math.floor((j * w) / w2), c1 = Math.floor(((j + 1) * w + w2 - 1) / w2);
        let sum = 0;
        for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) sum += x[r * w + c];
        out[i * w2 + j] = sum / ((r1 - r0) * (c1 - c0));
      }
    }
    return out;
  }

  function prepare(imageData) {
    const { width: w, height: h } = imageData;
    let x = grey(imageData);
    let background = median(border(x, w, h));
    if (background > 0.5) {
      x = x.map((v) => 1 - v);
      background = 1 - background;
    }
    let max = -Infinity;
    for (const v of x) max = Math.max(max, v);
    const span = max - background;
    if (span < 1 / 255) throw new Error("blank");
    x = x.map((v) => Math.min(1, Math.max(0, (v - background) / span)));
    let top = h, bottom = -1, left = w, right = -1;
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) {
        if (x[r * w + c] > FOREGROUND) {
          top = Math.min(top, r); bottom = Math.max(bottom, r);
          left = Math.min(left, c); right = Math.max(right, c);
        }
      }
    }
    const bw = right - left + 1, bh = bottom - top + 1;
    const box = new Float64Array(bw * bh);
    for (let r = 0; r < bh; r++) for (let c = 0; c < bw; c++) box[r * bw + c] = x[(top + r) * w + left + c];
    const scale = SIDE / Math.max(bh, bw);
    const h2 = Math.max(1, Math.floor(bh * scale + 0.5)), w2 = Math.max(1, Math.floor(bw * scale + 0.5));
    const small = areaResize(box, bw, bh, w2, h2);
    const canvas = new Float32Array(SIDE * SIDE);
    const y0 = (SIDE - h2 + 1) >> 1, x0 = (SIDE - w2 + 1) >> 1;
    for (let r = 0; r < h2; r++) for (let c = 0; c < w2; c++) canvas[(y0 + r) * SIDE + x0 + c] = small[r * w2 + c];
    return canvas;
  }

  window.d2litePreprocess = { prepare, SIDE };
})();
