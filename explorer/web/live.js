// A live view: the body of a gr.HTML's js_on_load (Gradio passes element, trigger, props, server, upload,
// watch). It draws the generator on a canvas on every animation frame while a slider moves: in the page with
// onnxruntime-web where the model has a checked generator.onnx, else with one light request per frame to the
// server (server.frame). No request at all while dragging in the page. Two kinds share this code:
//   "explore": the Explore tab's z sliders (#zs-N) and code sliders (#code-N) move z and the codes;
//   "path":    the Interpolate tab's position slider (#interp-pos) moves along the path the strip shows.
// The server sends the view's state as this component's value (JSON) whenever it changes it (model, seed,
// page, class, codes); when a slider is let go, the page tells the server the new z and codes (the "commit"
// event), so the strip, Interpolate, Directions and shared state follow. The server checks what it is told.
const canvas = element.querySelector("canvas.live");
const status = element.querySelector(".live-status");
const save = element.querySelector("a.live-save");
const painter = canvas.getContext("2d", {willReadFrequently: true});
const KEEP = 5000;                       // timing samples kept for the benchmark
const stats = {frames: 0, serverFrames: 0, inputToPaint: [], drawMs: [], errors: []};
const sessions = new Map();              // graph url -> promise of an onnxruntime InferenceSession
const broken = new Map();                // graph url -> why the page cannot run it (then: the server draws)
let st = null;                           // the view's state, as the server last sent it, moved by the sliders
let where = "starting", why = "";
let busy = false, again = false, pending = false, lastInput = 0, runtimeReady = null, loading = false;

function say() {
  const ms = stats.drawMs.length ? stats.drawMs[stats.drawMs.length - 1] : null;
  const speed = ms === null ? "" : ` (${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms a frame)`;
  status.textContent = where === "browser"
    ? `Drawn in your browser with WebAssembly${speed}: no server call while you drag.`
    : where === "server" ? `Drawn on the server${speed}: ${why}`
    : "Starting the live view…";
  element.dataset.where = where;
}

function runtime(prefix) {
  // onnxruntime-web, configured once: single-threaded plain WebAssembly, its files from this app
  if (!runtimeReady) {
    runtimeReady = (async () => {
      if (typeof WebAssembly !== "object") throw new Error("this browser has no WebAssembly");
      if (typeof ort === "undefined") throw new Error("onnxruntime-web did not load");
      ort.env.wasm.wasmPaths = new URL(prefix, document.baseURI).href;
      ort.env.wasm.numThreads = 1;
      ort.env.logLevel = "error";
    })();
  }
  return runtimeReady;
}

function session(d) {
  if (!sessions.has(d.graph)) {
    sessions.set(d.graph, runtime(d.runtime).then(() => ort.InferenceSession.create(
      new URL(d.graph, document.baseURI).href,
      {executionProviders: ["wasm"],
       externalData: [{path: d.weights_name, data: new URL(d.weights, document.baseURI).href}]})));
  }
  return sessions.get(d.graph);
}

function lerp(a, b, t) { return a.map((v, i) => v + t * (b[i] - v)); }

function slerp(a, b, t) {
  // as explorer/latent/space.py: a great circle with the norm interpolated (lerp when nearly parallel)
  const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const na = norm(a), nb = norm(b);
  const ua = a.map((v) => v / na), ub = b.map((v) => v / nb);
  const dot = Math.min(1 - 1e-7, Math.max(-1 + 1e-7, ua.reduce((s, v, i) => s + v * ub[i], 0)));
  const omega = Math.acos(dot);
  if (omega < 1e-4) return lerp(a, b, t);
  const s = Math.sin(omega), wa = Math.sin((1 - t) * omega) / s, wb = Math.sin(t * omega) / s;
  const n = (1 - t) * na + t * nb;
  return ua.map((v, i) => (wa * v + wb * ub[i]) * n);
}

function pathPoint() {
  // z and class weights at position t in [0, 1] along the path through st.zs (as Renderer.interpolate)
  const k = st.zs.length, pos = Math.min(1, Math.max(0, st.t)) * (k - 1);
  const lo = Math.min(Math.floor(pos), k - 2), u = pos - lo;
  const z = (st.method === "lerp" ? lerp : slerp)(st.zs[lo], st.zs[lo + 1], u);
  let weights = null;
  if (st.anchors) {
    weights = st.blend ? lerp(st.anchors[lo], st.anchors[lo + 1], u) : st.anchors[Math.round(pos)];
  }
  return {z, weights};
}

function current() {
  // {z, weights (class blend) or null} of what the view shows now
  return st.kind === "path" ? pathPoint() : {z: st.z, weights: null};
}

function generatorInput() {
  // what the generator takes: z, then the class one-hot (or blend), the categorical code one-hot, the
  // continuous codes
  const {z, weights} = current();
  const x = new Float32Array(z.length + st.num_classes + st.cat_codes + st.cont_codes);
  x.set(z);
  let o = z.length;
  if (weights) { x.set(weights, o); o += st.num_classes; }
  else if (st.num_classes) { x[o + (st.label || 0)] = 1; o += st.num_classes; }
  if (st.cat_codes) { x[o + (st.cat || 0)] = 1; o += st.cat_codes; }
  for (let j = 0; j < st.cont_codes; j++) x[o + j] = st.cont[j] || 0;
  return x;
}

function paint(data, dims) {
  // N x C x H x W in [-1, 1] -> RGBA, as the server maps pixels: clamp, (v + 1) * 127.5, round
  const [, c, h, w] = dims;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const img = painter.createImageData(w, h), px = img.data, plane = h * w;
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) {
      const v = data[(c === 1 ? 0 : k) * plane + i];
      px[4 * i + k] = Math.round((Math.min(1, Math.max(-1, v)) + 1) * 127.5);
    }
    px[4 * i + 3] = 255;
  }
  painter.putImageData(img, 0, 0);
}

async function drawInPage(d) {
  loading = !sessions.has(d.graph);        // this frame also fetches and compiles the model: not timed
  const s = await session(d);
  const x = generatorInput();
  const out = await s.run({zc: new ort.Tensor("float32", x, [1, x.length])});
  paint(out.image.data, out.image.dims);
}

async function drawOnServer() {
  const {z, weights} = current();
  const r = await server.frame({model: st.model, z, label: st.label, class_weights: weights, cat: st.cat,
                                cont: st.cont});
  if (!r || r.error) throw new Error(r ? r.error : "no answer from the server");
  const bmp = await createImageBitmap(await (await fetch("data:image/png;base64," + r.png)).blob());
  if (canvas.width !== bmp.width || canvas.height !== bmp.height) {
    canvas.width = bmp.width;
    canvas.height = bmp.height;
  }
  painter.drawImage(bmp, 0, 0);
  stats.serverFrames++;
}

async function draw() {
  const d = st.draw;
  if (d.where === "browser" && !broken.has(d.graph)) {
    try {
      await drawInPage(d);
      where = "browser";
      return;
    } catch (e) {   // the runtime or this model's graph failed to start: fall back, and say so
      broken.set(d.graph, `the in-page renderer could not start (${e && e.message ? e.message : e}).`);
      stats.errors.push(String(e && e.message ? e.message : e));
    }
  }
  why = d.where === "browser" ? broken.get(d.graph) : d.why;
  await drawOnServer();
  where = "server";
}

async function frame() {
  pending = false;
  if (!st) return;
  if (busy) { again = true; return; }
  busy = true;
  const t0 = lastInput, start = performance.now();
  loading = false;
  try {
    await draw();
    const end = performance.now();
    stats.frames++;
    if (loading) stats.loadMs = end - start;
    else {
      stats.drawMs.push(end - start);
      stats.inputToPaint.push(end - t0);
    }
    if (stats.drawMs.length > KEEP) { stats.drawMs.shift(); stats.inputToPaint.shift(); }
  } catch (e) {
    stats.errors.push(String(e && e.message ? e.message : e));
    where = "server"; why = `could not draw: ${e && e.message ? e.message : e}`;
  } finally {
    busy = false;
    say();
  }
  if (again) { again = false; want(lastInput); }
}

function want(t) {
  // a redraw on the next animation frame; moves that arrive meanwhile fold into it
  lastInput = t === undefined ? performance.now() : t;
  if (!pending) { pending = true; requestAnimationFrame(frame); }
}

function moved(e) {
  if (!st) return;
  const box = e.target.closest && e.target.closest(".zslider, .codeslider, #interp-pos");
  if (!box || !box.id) return;
  const v = parseFloat(e.target.value);
  if (!Number.isFinite(v)) return;        // a half-typed number: wait for the rest
  if ((box.id === "interp-pos") !== (st.kind === "path")) return;    // another view's slider
  if (st.kind === "path") { st.t = v; want(e.timeStamp); return; }
  let m = box.id.match(/^zs-(\d+)$/);
  if (m) {
    const i = st.page * st.page_size + Number(m[1]);
    if (i >= st.z.length) return;
    st.z[i] = v;
  } else if ((m = box.id.match(/^code-(\d+)$/))) {
    if (Number(m[1]) >= st.cont_codes) return;
    st.cont[Number(m[1])] = v;
  } else return;
  want(e.timeStamp);                       // the event's time, on performance.now()'s clock
}

function released(e) {
  // a slider let go (or a number typed and confirmed): the server learns the z the page has been drawing
  if (!st || st.kind === "path" || !e.target.closest || !e.target.closest(".zslider, .codeslider")) return;
  trigger("commit", {z: st.z, cont: st.cont});
}

function adopt() {
  let next = null;
  try { next = props.value ? JSON.parse(props.value) : null; } catch (e) { next = null; }
  if (!next || !next.model) return;
  if (next.kind === "path" && st && st.kind === "path") next.t = st.t;   // a new path keeps the position
  st = next;
  want();
}

document.addEventListener("input", moved, true);
document.addEventListener("change", released, true);
save.addEventListener("click", () => { save.href = canvas.toDataURL("image/png"); });
watch("value", adopt);
adopt();
say();

// for tests and the benchmark: the state, the timings, and drawing on demand
window[element.closest("#interp-live") ? "latentPath" : "latentExplorer"] = {
  stats,
  get state() { return st; },
  get where() { return where; },
  get why() { return why; },
  async drawNow() {
    while (busy) await new Promise((r) => setTimeout(r, 10));   // a frame in flight (e.g. a model loading)
    lastInput = performance.now();
    await frame();
    return where;
  },
  reset() { stats.frames = 0; stats.serverFrames = 0; stats.inputToPaint.length = 0; stats.drawMs.length = 0; },
};
