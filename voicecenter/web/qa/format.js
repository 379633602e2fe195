// Small formatting shared by the QA pages.
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "live";
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m ? `${m}m ${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString([], { dateStyle: "short", timeStyle: "medium" });
}

export function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "";
}

export function score(value) {
  return value === null || value === undefined ? "—" : `${value.toFixed(1)} %`;
}

export function offset(seconds) {
  const s = Math.max(0, seconds);
  return `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, "0")}`;
}
