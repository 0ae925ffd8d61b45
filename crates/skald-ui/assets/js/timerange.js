// The time range: relative (`now-1h` .. `now`, resolved again at every run, so a
// refresh moves the window) or absolute (two instants in milliseconds). Both forms are
// what the URL holds, so a shared link gives the same range back.

export const RELATIVE = [
  { value: 'now-5m', label: 'Last 5 minutes' },
  { value: 'now-15m', label: 'Last 15 minutes' },
  { value: 'now-1h', label: 'Last 1 hour' },
  { value: 'now-6h', label: 'Last 6 hours' },
  { value: 'now-24h', label: 'Last 24 hours' },
  { value: 'now-7d', label: 'Last 7 days' },
];

export const DEFAULT_RANGE = { from: 'now-1h', to: 'now' };

const UNIT_MS = { s: 1000, m: 60000, h: 3600000, d: 86400000, w: 604800000 };

/** Milliseconds of one end of a range (`now`, `now-15m`, or epoch ms); NaN when invalid. */
export function resolvePoint(value, nowMs) {
  if (value === 'now') return nowMs;
  const relative = /^now-(\d+)([smhdw])$/.exec(value);
  if (relative) return nowMs - Number(relative[1]) * UNIT_MS[relative[2]];
  if (/^\d{1,16}$/.test(value)) return Number(value);
  return NaN;
}

/** `{startMs, endMs}` of a range at `nowMs`, or an error message. */
export function resolveRange(range, nowMs = Date.now()) {
  const startMs = resolvePoint(range.from, nowMs);
  const endMs = resolvePoint(range.to, nowMs);
  if (Number.isNaN(startMs)) return { error: `invalid start of the time range: ${range.from}` };
  if (Number.isNaN(endMs)) return { error: `invalid end of the time range: ${range.to}` };
  if (endMs <= startMs) return { error: 'the end of the time range must be after its start' };
  return { startMs, endMs };
}

export function isRelative(range) {
  return range.to === 'now' && RELATIVE.some((option) => option.value === range.from);
}

export const msToNanos = (ms) => BigInt(Math.round(ms)) * 1000000n;

/** `YYYY-MM-DDTHH:MM:SS` in local time, as `<input type="datetime-local">` wants it. */
function toLocalInput(ms) {
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** The picker: a select of relative ranges plus "Absolute…", which shows two inputs. */
export class TimePicker {
  constructor({ select, absoluteBox, fromInput, toInput, onChange }) {
    this.select = select;
    this.absoluteBox = absoluteBox;
    this.fromInput = fromInput;
    this.toInput = toInput;
    this.onChange = onChange;
    this.range = { ...DEFAULT_RANGE };
    for (const option of RELATIVE) select.append(new Option(option.label, option.value));
    select.append(new Option('Absolute…', 'absolute'));
    select.addEventListener('change', () => this.selectChanged());
    for (const input of [fromInput, toInput]) input.addEventListener('change', () => this.absoluteChanged());
  }

  get() {
    return { ...this.range };
  }

  set(range) {
    this.range = { ...range };
    if (isRelative(range)) {
      this.select.value = range.from;
      this.absoluteBox.hidden = true;
    } else {
      this.select.value = 'absolute';
      this.absoluteBox.hidden = false;
      const resolved = resolveRange(range);
      if (!resolved.error) {
        this.fromInput.value = toLocalInput(resolved.startMs);
        this.toInput.value = toLocalInput(resolved.endMs);
      }
    }
  }

  selectChanged() {
    if (this.select.value === 'absolute') {
      // Start from the range shown now, frozen.
      const resolved = resolveRange(this.range);
      if (!resolved.error) this.set({ from: String(resolved.startMs), to: String(resolved.endMs) });
      else this.absoluteBox.hidden = false;
    } else {
      this.set({ from: this.select.value, to: 'now' });
    }
    this.onChange(this.get());
  }

  absoluteChanged() {
    const from = new Date(this.fromInput.value).getTime();
    const to = new Date(this.toInput.value).getTime();
    if (Number.isNaN(from) || Number.isNaN(to)) return;
    this.range = { from: String(from), to: String(to) };
    this.onChange(this.get());
  }
}
