// Small formatting helpers.

/** "14:03:12" for an ISO date-time string from the server. */
export function time(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour12: false });
}

/** "2024-05-01" for an ISO date-time string. */
export function day(iso) {
  return typeof iso === "string" ? iso.slice(0, 10) : "";
}

/** 2500 -> "$25.00" */
export function money(cents) {
  return `$${(Number(cents) / 100).toFixed(2)}`;
}
