// A small SVG line chart: time on x, one or more series on y, gaps where a value is null.
// Hand-written so the wallboard needs no chart library (no build step, no CDN).

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

// Round numbers for the y axis: 0, step, 2*step... covering max.
function ticks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const out = [];
  for (let v = 0; v <= max + step * 0.001; v += step) out.push(+v.toFixed(6));
  if (out[out.length - 1] < max) out.push(out[out.length - 1] + step);
  return out;
}

function clock(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
}

// series: [{label, color, points: [[timeMs, value|null], ...]}]
// options: {width, height, yMax (fixed top, e.g. 100 for percent), unit, title, from, to}
export function lineChart(series, options = {}) {
  const width = options.width || 560;
  const height = options.height || 200;
  const pad = { left: 44, right: 12, top: 22, bottom: 26 };
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart",
                            role: "img", "aria-label": options.title || "chart" });
  const all = series.flatMap((s) => s.points);
  const times = all.map((p) => p[0]);
  const values = all.map((p) => p[1]).filter((v) => v !== null && v !== undefined);
  const t0 = options.from ?? (times.length ? Math.min(...times) : Date.now() - 3600e3);
  const t1 = options.to ?? (times.length ? Math.max(...times) : Date.now());
  const span = Math.max(t1 - t0, 1);
  const yTicks = ticks(options.yMax ?? Math.max(1, ...values));
  const yTop = yTicks[yTicks.length - 1];
  const x = (t) => pad.left + ((t - t0) / span) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / yTop) * (height - pad.top - pad.bottom);

  if (options.title) {
    root.append(svg("text", { x: pad.left, y: 14, class: "chart-title" }, options.title));
  }
  for (const v of yTicks) {
    root.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(v), y2: y(v),
                              class: "chart-grid" }));
    root.append(svg("text", { x: pad.left - 6, y: y(v) + 4, class: "chart-axis",
                              "text-anchor": "end" }, `${v}${options.unit || ""}`));
  }
  const xCount = 5;
  for (let i = 0; i <= xCount; i += 1) {
    const t = t0 + (span * i) / xCount;
    root.append(svg("text", { x: x(t), y: height - 8, class: "chart-axis",
                              "text-anchor": i === 0 ? "start" : i === xCount ? "end" : "middle" },
                    clock(t)));
  }
  series.forEach((s, index) => {
    // One path per run of non-null values: a null (no answered call yet) is a gap.
    let d = "";
    let drawing = false;
    for (const [t, v] of s.points) {
      if (v === null || v === undefined) { drawing = false; continue; }
      d += `${drawing ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)} `;
      drawing = true;
    }
    if (d) {
      root.append(svg("path", { d: d.trim(), fill: "none", stroke: s.color, "stroke-width": 2,
                                class: "chart-line", "data-series": s.label }));
    }
    const lx = width - pad.right - (series.length - index) * 110;
    root.append(svg("rect", { x: lx, y: 6, width: 10, height: 10, fill: s.color }));
    root.append(svg("text", { x: lx + 14, y: 15, class: "chart-legend" }, s.label));
  });
  if (!values.length) {
    root.append(svg("text", { x: width / 2, y: height / 2, class: "chart-empty",
                              "text-anchor": "middle" }, "no samples yet"));
  }
  return root;
}
