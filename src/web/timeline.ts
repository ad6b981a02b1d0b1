/**
 * The timeline: the recording along instruction count and guest time on a
 * <canvas>, one track per kind of event (as the worker read them:
 * protocol.ts EventsMessage). Wheel zooms about the mouse, drag pans, hover
 * says what an event was, a click asks to go there (onSeek); the cursor line
 * follows the replay. Drawing is per pixel column, not per event: a track
 * with millions of events costs a binary search per column it marks.
 *
 * Two axes: one along the top, linear, by which the x axis is laid out
 * (icount, or guest time when switched: a click on the axis names), and the
 * other one under the tracks, following the piecewise map between the two
 * (GuestTime): by icount, guest time steps up at each idle jump, so its
 * labels leap, a strip shades the columns where idle time was skipped and
 * an axis break says how much where it is more than a label's step; by
 * guest time, icount stands still through the idle periods.
 */
import type { ActionsMessage, EventTrack, EventsMessage, GuestClock } from './protocol.js';
import { appendIcounts } from '../util/append-icounts.js';

export interface TimelineOptions {
  /** A click on the timeline: go to this icount. */
  onSeek(icount: number): void;
  /** The track picked (a click on its name) changed. */
  onSelect?(track: number): void;
}

/** What the x axis is laid out by. */
export type TimelineAxis = 'icount' | 'guest time';

const LABEL_W = 138;
const AXIS_H = 22;
const ROW_H = 19;
const PAD_R = 14;
const FOOT_H = 16;
/** The second axis, under the tracks: a strip of idle shading, then its labels. */
const AXIS2_H = 24;
const IDLE_STRIP_H = 4;

const COLORS: Record<string, string> = {
  'console in': '#5eead4',
  'net frames in': '#82aaff',
  'net frames out': '#5ab0f0',
  'net link': '#a3c2ff',
  entropy: '#c792ea',
  'idle jumps': '#7d8596',
  'disk requests': '#e0a872',
  'disk errors': '#f07178',
  digests: '#a6da95',
  checkpoints: '#f5c26b',
  end: '#ff8b92',
};

const fmtShort = (n: number): string => {
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toFixed(3)}G`;
  if (a >= 1e6) return `${+(n / 1e6).toFixed(3)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(3)}k`;
  return String(Math.round(n));
};
const fmt = (n: number) => n.toLocaleString('en-US');

/** An axis label for guest time `ticks`, as precise as steps of `step` ticks need: s, or ms below 1 s. */
function fmtTime(ticks: number, step: number, hz: number): string {
  if (ticks === 0) return '0 s';
  const s = ticks / hz;
  const st = step / hz;
  const places = (unitStep: number, most: number) =>
    Math.max(0, Math.min(most, Math.ceil(-Math.log10(unitStep) - 1e-9)));
  if (s >= 1 || st >= 0.1) return `${s.toFixed(places(st, 7))} s`;
  return `${(s * 1e3).toFixed(places(st * 1e3, 4))} ms`;
}

/** A span of guest time (ticks), to 3 significant digits: s, ms or µs. */
function fmtSpan(ticks: number, hz: number): string {
  const s = ticks / hz;
  // By the value as shown: 999.96 ms is 1.00 s.
  const [v, unit] = s >= 0.9995 ? [s, 's'] : s >= 0.9995e-3 ? [s * 1e3, 'ms'] : [s * 1e6, 'µs'];
  return `${v >= 100 ? v.toFixed(0) : v.toPrecision(3)} ${unit}`;
}

/** A step of about `rough` units: 1, 2 or 5 × 10^k, at least 1. */
function niceStep(rough: number): number {
  const p10 = 10 ** Math.floor(Math.log10(Math.max(1, rough)));
  return [1, 2, 5, 10].map((m) => m * p10).find((s) => s >= rough) ?? 10 * p10;
}

/** Index of the first element of sorted `a` (first n) that is >= v. */
function lowerBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Guest time along the recording (protocol.ts GuestClock): ticks at an
 * icount, exactly as the machine's clock has them (src/machine/clock.ts
 * ticksAt), and a continuous position in ticks for drawing (icount /
 * insnsPerTick + idle ticks, without the floor), with its inverse.
 */
export class GuestTime {
  private readonly ipt: number;
  readonly hz: number;

  constructor(readonly clock: GuestClock) {
    this.ipt = clock.insnsPerTick;
    this.hz = clock.hz;
  }

  /** The idle ticks after jump j. */
  private idleAfter(j: number): number {
    return this.clock.jumpTicks[j] - Math.floor(this.clock.jumpIcounts[j] / this.ipt);
  }

  /** Index of the last jump at or before `icount` (-1: none). */
  private jumpBefore(icount: number): number {
    return lowerBound(this.clock.jumpIcounts, Math.floor(icount) + 1) - 1;
  }

  /** The idle ticks in force at `icount` (those of a jump there included). */
  idleAt(icount: number): number {
    const j = this.jumpBefore(icount);
    return j < 0 ? this.clock.startIdleTicks : this.idleAfter(j);
  }

  /** Guest time at `icount`, in ticks: the machine's mtime there. */
  ticksAt(icount: number): number {
    return Math.floor(icount / this.ipt) + this.idleAt(icount);
  }

  seconds(icount: number): number {
    return this.ticksAt(icount) / this.hz;
  }

  /** Whether ticksAt(icount) is exact, not resting on a guess (protocol.ts GuestClock). */
  exact(icount: number): boolean {
    const c = this.clock;
    return !(icount < (c.estimatedBefore ?? -1)) && !(icount > (c.estimatedAfter ?? Infinity));
  }

  /** The continuous position of `icount` in ticks (equal to ticksAt at whole ticks). */
  pos(icount: number): number {
    return icount / this.ipt + this.idleAt(icount);
  }

  /** The smallest (fractional) icount whose position is `u` or more: a jump's icount for a `u` in the idle time it skipped. */
  icountAtPos(u: number): number {
    const c = this.clock;
    const n = c.jumpIcounts.length;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c.jumpIcounts[mid] / this.ipt + this.idleAfter(mid) <= u) lo = mid + 1;
      else hi = mid;
    }
    const j = lo - 1;
    let ic = (u - (j < 0 ? c.startIdleTicks : this.idleAfter(j))) * this.ipt;
    if (j + 1 < n && ic > c.jumpIcounts[j + 1]) ic = c.jumpIcounts[j + 1];
    return Math.max(0, ic);
  }

  /** Guest time at `icount` to the tick, in seconds, as vmrs replay --to prints it (≈: a guess). */
  say(icount: number): string {
    return `${this.exact(icount) ? '' : '≈ '}${this.seconds(icount).toFixed(7)} s`;
  }
}

export class Timeline {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly tip: HTMLDivElement;
  private tracks: EventTrack[] = [];
  /** The tracks drawn (those with events), as indexes into tracks. */
  private shown: number[] = [];
  private last = 0;
  /** The icount the recording starts at (its snapshot's; 0 for a boot): the view starts no earlier. */
  private first = 0;
  private damagedFrom: number | undefined;
  /** The observed tracks (the guest's own doing) are known up to here: where the replay has been. */
  private observedTo = 0;
  private time: GuestTime | undefined;
  private axis: TimelineAxis = 'icount';
  /**
   * The view, in units of the x axis (icounts, or ticks of guest time): the
   * value at the left edge of the plot and units per CSS pixel.
   */
  private start = 0;
  private perPx = 1;
  private cursor = 0;
  private width = 0;
  private height = 0;
  selected = -1;
  private hover: { x: number; y: number } | undefined;
  private drag: { x: number; start: number; moved: boolean } | undefined;
  private frame = 0;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly opts: TimelineOptions,
  ) {
    this.ctx = canvas.getContext('2d')!;
    this.tip = document.createElement('div');
    this.tip.className = 'tl-tip';
    this.tip.hidden = true;
    canvas.parentElement!.appendChild(this.tip);
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement!);
    canvas.addEventListener('wheel', (e) => this.wheel(e), { passive: false });
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointerleave', () => {
      this.hover = undefined;
      this.tip.hidden = true;
      this.redraw();
    });
    canvas.addEventListener('dblclick', () => this.fit());
  }

  /** The tracks, in the order given. */
  get trackList(): readonly EventTrack[] {
    return this.tracks;
  }

  get lastIcount(): number {
    return this.last;
  }

  /** What the x axis is laid out by now. */
  get xAxis(): TimelineAxis {
    return this.axis;
  }

  /** Guest time at `icount` in seconds (undefined before the events came). */
  guestSecondsAt(icount: number): number | undefined {
    return this.time?.seconds(icount);
  }

  /** Where the observed tracks are known up to. */
  get observedUpTo(): number {
    return this.observedTo;
  }

  setEvents(m: EventsMessage): void {
    this.tracks = m.tracks;
    this.observedTo = m.clock.startIcount;
    // The observed tracks are shown from the start: they fill as the replay passes.
    this.shown = m.tracks.flatMap((t, i) => (t.icounts.length || t.observed ? [i] : []));
    this.last = Math.max(1, m.lastIcount);
    this.first = Math.min(m.clock.startIcount, this.last - 1);
    this.damagedFrom = m.damagedFrom;
    this.time = new GuestTime(m.clock);
    if (this.selected < 0 || !this.tracks[this.selected]?.icounts.length)
      this.selected = this.shown.length ? this.shown[0] : -1;
    this.resize();
    this.fit();
  }

  /** Events of the observed tracks the replay met (appended: it reports only new ground). */
  addActions(m: ActionsMessage): void {
    for (const add of m.added) {
      const t = this.tracks.find((x) => x.name === add.name && x.observed);
      if (!t) continue;
      t.icounts = appendIcounts(t.icounts, add.icounts);
      if (add.labels) {
        const labels = (t.labels ??= []);
        for (const l of add.labels) labels.push(l); // (a spread of many would overflow the stack)
      }
    }
    this.observedTo = Math.max(this.observedTo, m.observedTo);
    this.redraw();
  }

  clear(): void {
    this.tracks = [];
    this.observedTo = 0;
    this.shown = [];
    this.last = 0;
    this.first = 0;
    this.cursor = 0;
    this.time = undefined;
    this.redraw();
  }

  setCursor(icount: number): void {
    if (icount === this.cursor) return;
    this.cursor = icount;
    this.redraw();
  }

  select(track: number): void {
    this.selected = track;
    this.redraw();
  }

  /** Lay the x axis out by `axis`, showing the same stretch of the recording. */
  setXAxis(axis: TimelineAxis): void {
    if (axis === this.axis || (axis === 'guest time' && !this.time)) return;
    const from = this.icountOfU(this.start);
    const to = this.icountOfU(this.start + this.perPx * this.plotW);
    this.axis = axis;
    this.start = this.uOf(from);
    this.perPx = Math.max(1e-9, (this.uOf(to) - this.start) / this.plotW);
    this.clampView();
    this.redraw();
  }

  /** Show the whole recording. */
  fit(): void {
    this.start = this.uFirst;
    this.perPx = this.uSpan / this.plotW;
    this.redraw();
  }

  /** The icount of the next (dir 1) or previous (-1) event of `track` from `icount`. */
  neighbour(track: number, icount: number, dir: 1 | -1): number | undefined {
    const a = this.tracks[track]?.icounts;
    if (!a || !a.length) return undefined;
    if (dir > 0) {
      const i = lowerBound(a, icount + 1);
      return i < a.length ? a[i] : undefined;
    }
    const i = lowerBound(a, icount) - 1;
    return i >= 0 ? a[i] : undefined;
  }

  /** The icount under CSS x (clamped to the recording). */
  icountAt(x: number): number {
    const v = Math.round(this.icountOfU(this.start + (x - LABEL_W) * this.perPx));
    return Math.min(this.last, Math.max(this.first, v));
  }

  private get byTime(): boolean {
    return this.axis === 'guest time' && this.time !== undefined;
  }

  /** Where `icount` is along the x axis (its units). */
  private uOf(icount: number): number {
    return this.byTime ? this.time!.pos(icount) : icount;
  }

  /** The (fractional) icount at `u` along the x axis. */
  private icountOfU(u: number): number {
    return this.byTime ? this.time!.icountAtPos(u) : u;
  }

  /** The end of the recording along the x axis. */
  private get uLast(): number {
    return this.uOf(this.last);
  }

  /** The start of the recording along the x axis. */
  private get uFirst(): number {
    return this.uOf(this.first);
  }

  /** The length of the recording along the x axis. */
  private get uSpan(): number {
    return Math.max(1e-6, this.uLast - this.uFirst);
  }

  private xOf(icount: number): number {
    return LABEL_W + (this.uOf(icount) - this.start) / this.perPx;
  }

  private get plotW(): number {
    return Math.max(1, this.width - LABEL_W - PAD_R);
  }

  private resize(): void {
    const box = this.canvas.parentElement!.getBoundingClientRect();
    const w = Math.max(200, Math.floor(box.width));
    const h = AXIS_H + Math.max(1, this.shown.length) * ROW_H + AXIS2_H + FOOT_H + 4;
    const keepFit =
      this.width === 0 || (this.start <= this.uFirst && this.perPx * this.plotW >= this.uSpan);
    this.width = w;
    this.height = h;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (keepFit) {
      this.start = this.uFirst;
      this.perPx = this.uSpan / this.plotW;
    }
    this.clampView();
    this.redraw();
  }

  private clampView(): void {
    const first = this.uFirst;
    const last = this.uLast;
    // Zoomed in at most to 40 px per instruction.
    const minPer = this.byTime ? 1 / (40 * this.time!.clock.insnsPerTick) : 1 / 40;
    const maxPer = Math.max(minPer, (this.uSpan * 1.02) / this.plotW);
    this.perPx = Math.min(maxPer, Math.max(minPer, this.perPx));
    const span = this.perPx * this.plotW;
    this.start = Math.min(Math.max(first, last - span), Math.max(first, this.start));
    if (span >= last - first) this.start = first;
  }

  private local(e: MouseEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  private wheel(e: WheelEvent): void {
    if (!this.last) return;
    e.preventDefault();
    const { x } = this.local(e);
    const px = Math.min(Math.max(x, LABEL_W), LABEL_W + this.plotW);
    const at = this.start + (px - LABEL_W) * this.perPx;
    const dy = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    this.perPx *= Math.exp(dy * 0.0025);
    this.clampView();
    this.start = at - (px - LABEL_W) * this.perPx;
    this.clampView();
    this.redraw();
  }

  private down(e: PointerEvent): void {
    if (!this.last || e.button !== 0) return;
    const { x } = this.local(e);
    this.canvas.setPointerCapture(e.pointerId);
    this.drag = { x, start: this.start, moved: false };
  }

  private move(e: PointerEvent): void {
    const p = this.local(e);
    if (this.drag) {
      const dx = p.x - this.drag.x;
      if (Math.abs(dx) > 3) this.drag.moved = true;
      if (this.drag.moved) {
        this.start = this.drag.start - dx * this.perPx;
        this.clampView();
        this.canvas.style.cursor = 'grabbing';
      }
    }
    this.hover = p;
    this.canvas.style.cursor = this.drag?.moved
      ? 'grabbing'
      : this.onAxisName(p.x, p.y)
        ? 'pointer'
        : '';
    this.redraw();
  }

  private up(e: PointerEvent): void {
    const d = this.drag;
    this.drag = undefined;
    this.canvas.style.cursor = '';
    if (!d || d.moved || !this.last) return;
    const { x, y } = this.local(e);
    if (this.onAxisName(x, y)) {
      this.setXAxis(this.axis === 'icount' ? 'guest time' : 'icount');
      return;
    }
    if (x < LABEL_W) {
      const row = this.rowAt(y);
      if (row >= 0) {
        this.selected = this.shown[row];
        this.opts.onSelect?.(this.selected);
        this.redraw();
      }
      return;
    }
    const hit = this.hitAt(x, y);
    this.opts.onSeek(hit ? hit.icount : this.icountAt(x));
  }

  /** The bottom of the tracks (the top of the second axis). */
  private get plotB(): number {
    return AXIS_H + this.shown.length * ROW_H;
  }

  /** (x, y) is on the name of an axis (a click there swaps them). */
  private onAxisName(x: number, y: number): boolean {
    if (x >= LABEL_W || !this.time || !this.last) return false;
    return y < AXIS_H || (y >= this.plotB && y < this.plotB + AXIS2_H);
  }

  private rowAt(y: number): number {
    const row = Math.floor((y - AXIS_H) / ROW_H);
    return row >= 0 && row < this.shown.length ? row : -1;
  }

  /** The event nearest CSS (x, y) within a few pixels, in the row under y. */
  private hitAt(
    x: number,
    y: number,
  ): { track: number; index: number; icount: number } | undefined {
    const row = this.rowAt(y);
    if (row < 0 || x < LABEL_W) return undefined;
    const t = this.shown[row];
    const a = this.tracks[t].icounts;
    const at = this.icountOfU(this.start + (x - LABEL_W) * this.perPx);
    const i = lowerBound(a, at);
    let best = -1;
    let bestD = 5;
    for (const j of [i - 1, i]) {
      if (j < 0 || j >= a.length) continue;
      const d = Math.abs(this.xOf(a[j]) - x);
      if (d <= bestD) {
        best = j;
        bestD = d;
      }
    }
    return best >= 0 ? { track: t, index: best, icount: a[best] } : undefined;
  }

  private redraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** A value of the x axis's unit, for its labels. */
  private sayU(u: number, step: number): string {
    return this.byTime ? fmtTime(u, step, this.time!.hz) : fmtShort(u);
  }

  private draw(): void {
    const c = this.ctx;
    const w = this.width;
    const h = this.height;
    c.clearRect(0, 0, w, h);
    c.fillStyle = '#0f131b';
    c.fillRect(0, 0, w, h);
    c.font = '11.5px "Inter", "DejaVu Sans", system-ui, sans-serif';
    c.textBaseline = 'middle';
    if (!this.last) {
      c.fillStyle = '#7d8596';
      c.fillText('the timeline appears once the recording is open', 12, h / 2);
      return;
    }
    const plotR = LABEL_W + this.plotW;
    const plotB = this.plotB;

    // The axis along the top: "nice" steps of 1, 2 or 5 × 10^k units, about every 110 px.
    const span = this.perPx * this.plotW;
    const step = niceStep(this.perPx * 110);
    c.strokeStyle = '#1d2430';
    c.fillStyle = '#7d8596';
    c.lineWidth = 1;
    c.textAlign = 'center';
    for (let v = Math.ceil(this.start / step) * step; v <= this.start + span; v += step) {
      const x = Math.round(LABEL_W + (v - this.start) / this.perPx) + 0.5;
      c.beginPath();
      c.moveTo(x, AXIS_H - 4);
      c.lineTo(x, plotB);
      c.stroke();
      c.fillText(this.sayU(v, step), Math.min(Math.max(x, LABEL_W + 16), plotR - 16), AXIS_H / 2);
    }

    // The tracks.
    c.textAlign = 'left';
    this.shown.forEach((t, row) => {
      const track = this.tracks[t];
      const y0 = AXIS_H + row * ROW_H;
      const color = COLORS[track.name] ?? '#d4d7de';
      if (t === this.selected) {
        c.fillStyle = 'rgba(94, 234, 212, 0.07)';
        c.fillRect(0, y0, w, ROW_H);
      } else if (row % 2) {
        c.fillStyle = 'rgba(255, 255, 255, 0.018)';
        c.fillRect(0, y0, w, ROW_H);
      }
      c.fillStyle = color;
      c.fillRect(8, y0 + ROW_H / 2 - 4, 8, 8);
      c.fillStyle = t === this.selected ? '#ffffff' : '#c0c5cf';
      c.fillText(track.name, 22, y0 + ROW_H / 2);
      c.fillStyle = '#5c6370';
      c.textAlign = 'right';
      const more = track.observed && this.observedTo < this.last ? '…' : '';
      c.fillText(fmtShort(track.icounts.length) + more, LABEL_W - 8, y0 + ROW_H / 2);
      c.textAlign = 'left';
      // One mark per pixel column that holds events: from each mark, jump to the next column.
      const a = track.icounts;
      c.fillStyle = color;
      const top = y0 + 3;
      const hgt = ROW_H - 6;
      let i = lowerBound(a, this.icountOfU(this.start - this.perPx));
      while (i < a.length) {
        const x = this.xOf(a[i]);
        if (x > plotR + 1) break;
        const px = Math.floor(x);
        c.fillRect(px, top, track.name === 'end' ? 3 : 1.5, hgt);
        const ni = lowerBound(a, this.icountOfU(this.start + (px + 1 - LABEL_W) * this.perPx));
        i = ni > i ? ni : i + 1;
      }
      // An observed track is known only where the replay has been: the rest is dotted.
      if (track.observed && this.observedTo < this.last) {
        const x0 = Math.max(LABEL_W, this.xOf(this.observedTo));
        const x1 = Math.min(plotR, this.xOf(this.last));
        c.fillStyle = 'rgba(125, 133, 150, 0.28)';
        for (let x = Math.ceil(x0) + 2; x < x1; x += 6) c.fillRect(x, y0 + ROW_H / 2, 2, 1);
      }
    });

    // The part of the plot outside the recording.
    const endX = this.xOf(this.last);
    if (endX < plotR) {
      c.fillStyle = 'rgba(0, 0, 0, 0.35)';
      c.fillRect(endX + 1, AXIS_H, plotR - endX, plotB - AXIS_H);
    }
    // Where the events could not be read (a damaged chunk): hatched red.
    if (this.damagedFrom !== undefined) {
      const x0 = Math.max(LABEL_W, this.xOf(this.damagedFrom));
      const x1 = Math.min(plotR, endX);
      if (x1 > x0) {
        c.save();
        c.beginPath();
        c.rect(x0, AXIS_H, x1 - x0, plotB - AXIS_H);
        c.clip();
        c.fillStyle = 'rgba(240, 113, 120, 0.10)';
        c.fillRect(x0, AXIS_H, x1 - x0, plotB - AXIS_H);
        c.strokeStyle = 'rgba(240, 113, 120, 0.35)';
        for (let x = x0 - (plotB - AXIS_H); x < x1; x += 8) {
          c.beginPath();
          c.moveTo(x, plotB);
          c.lineTo(x + (plotB - AXIS_H), AXIS_H);
          c.stroke();
        }
        c.restore();
        c.fillStyle = '#f07178';
        c.textAlign = 'left';
        if (x1 - x0 > 170) c.fillText('damaged: events not readable', x0 + 8, AXIS_H + 9);
      }
    }
    c.strokeStyle = '#232a38';
    c.strokeRect(LABEL_W + 0.5, AXIS_H + 0.5, this.plotW, plotB - AXIS_H);

    this.drawSecondAxis(plotR, plotB);

    // Where the replay is.
    const cx = this.xOf(this.cursor);
    if (cx >= LABEL_W - 1 && cx <= plotR + 1) {
      c.fillStyle = '#ffd68a';
      c.fillRect(Math.round(cx) - 1, AXIS_H - 6, 2, plotB - AXIS_H + 6);
      c.beginPath();
      c.moveTo(Math.round(cx) - 5, AXIS_H - 8);
      c.lineTo(Math.round(cx) + 5, AXIS_H - 8);
      c.lineTo(Math.round(cx), AXIS_H - 2);
      c.fill();
      // Its place on the second axis, over that axis's labels.
      if (this.time) {
        const text = this.byTime ? `icount ${fmt(this.cursor)}` : this.time.say(this.cursor);
        c.font = '11px "DejaVu Sans Mono", ui-monospace, monospace';
        const tw = c.measureText(text).width + 10;
        const bx = Math.min(Math.max(LABEL_W, Math.round(cx) - tw / 2), plotR - tw);
        const by = plotB + IDLE_STRIP_H + 2;
        c.fillStyle = '#ffd68a';
        c.fillRect(Math.round(cx) - 1, plotB, 2, by - plotB);
        c.fillStyle = '#2a2416';
        c.fillRect(bx, by, tw, AXIS2_H - IDLE_STRIP_H - 4);
        c.strokeStyle = '#ffd68a';
        c.strokeRect(bx + 0.5, by + 0.5, tw - 1, AXIS2_H - IDLE_STRIP_H - 5);
        c.fillStyle = '#ffd68a';
        c.textAlign = 'left';
        c.fillText(text, bx + 5, by + (AXIS2_H - IDLE_STRIP_H - 4) / 2);
        c.font = '11.5px "Inter", "DejaVu Sans", system-ui, sans-serif';
      }
    }

    // The foot: what is shown, and the tracks without events.
    c.fillStyle = '#5c6370';
    c.textAlign = 'left';
    const from = this.icountOfU(this.start);
    const to = Math.min(this.last, this.icountOfU(this.start + span));
    const icounts = `icount ${fmt(Math.round(from))} – ${fmt(Math.round(to))}`;
    let times = '';
    if (this.time) {
      const t = this.time;
      // As many places as the stretch shown needs (to the tick at most).
      const secs = Math.max(1e-7, t.seconds(to) - t.seconds(from));
      const places = Math.max(3, Math.min(7, Math.ceil(-Math.log10(secs)) + 2));
      const say = (ic: number) => `${t.exact(ic) ? '' : '≈ '}${t.seconds(ic).toFixed(places)}`;
      times = `guest time ${say(from)} – ${say(to)} s`;
    }
    const range = !this.time
      ? icounts
      : this.byTime
        ? `${times} · ${icounts}`
        : `${icounts} · ${times}`;
    const empty = this.tracks
      .filter((t) => !t.icounts.length && (!t.observed || this.observedTo >= this.last))
      .map((t) => t.name);
    const none = empty.length ? `   ·   no events: ${empty.join(', ')}` : '';
    const hints =
      '   ·   click: go there · wheel: zoom · drag: pan · click a name: pick the kind · ← →: one instruction, shift: one event';
    // What fits: the tracks without events go first, then the hints.
    const foot = [range + hints + none, range + hints, range + none, range].find(
      (t) => c.measureText(t).width <= plotR - LABEL_W,
    );
    c.fillText(foot ?? range, LABEL_W, plotB + AXIS2_H + FOOT_H / 2 + 3);

    // Hover: a line and what is there.
    const hv = this.hover;
    if (hv && !this.drag?.moved && hv.x >= LABEL_W && hv.x <= plotR) {
      const hit = this.hitAt(hv.x, hv.y);
      const x = hit ? this.xOf(hit.icount) : hv.x;
      c.strokeStyle = 'rgba(255, 255, 255, 0.35)';
      c.beginPath();
      c.moveTo(Math.round(x) + 0.5, AXIS_H);
      c.lineTo(Math.round(x) + 0.5, plotB + AXIS2_H);
      c.stroke();
      let text: string;
      if (hit) {
        const tr = this.tracks[hit.track];
        const label = tr.labels?.[hit.index];
        text = `${tr.name} at icount ${fmt(hit.icount)}`;
        if (this.time) text += `\nguest time ${this.time.say(hit.icount)}`;
        if (label) text += `\n${label}`;
      } else {
        const at = this.icountAt(hv.x);
        text = `icount ${fmt(at)}`;
        const row = this.rowAt(hv.y);
        const tr = row >= 0 ? this.tracks[this.shown[row]] : undefined;
        if (tr?.observed && at > this.observedTo)
          text += `\n${tr.name}: the guest's doing, found as the replay passes (so far up to icount ${fmt(this.observedTo)})`;
        if (this.time) {
          text += `\nguest time ${this.time.say(at)}`;
          const idle = this.idleIn(Math.floor(hv.x) - LABEL_W);
          if (idle > 0 && hv.y >= plotB)
            text += `\nidle time skipped in this pixel column: ${fmtTime(idle, 1, this.time.hz)}`;
        }
        text += '\nclick to go there';
      }
      this.showTip(text, x, hv.y);
    } else if (hv && this.onAxisName(hv.x, hv.y)) {
      this.showTip(
        `x axis by ${this.axis}; click: lay it out by ${this.byTime ? 'icount' : 'guest time'}`,
        hv.x,
        hv.y,
      );
    } else this.tip.hidden = true;
  }

  private showTip(text: string, x: number, y: number): void {
    this.tip.textContent = text;
    this.tip.hidden = false;
    this.tip.style.left = `${Math.min(Math.max(0, x + 12), this.width - 320)}px`;
    this.tip.style.top = `${Math.min(y + 14, this.height - 10)}px`;
  }

  /**
   * Column `b` of the plot (CSS pixels from its left edge): its icounts
   * [ic0, ic1) and guest time positions [t0, t1), clipped to the recording
   * (undefined: outside it).
   */
  private column(b: number): { ic0: number; ic1: number; t0: number; t1: number } | undefined {
    const time = this.time!;
    const lo = this.start + b * this.perPx;
    const hi = lo + this.perPx;
    const first = time.clock.startIcount;
    if (this.byTime) {
      const t0 = Math.max(lo, time.pos(first));
      const t1 = Math.min(hi, time.pos(this.last));
      if (!(t1 > t0)) return undefined;
      return { ic0: time.icountAtPos(t0), ic1: time.icountAtPos(t1), t0, t1 };
    }
    const ic0 = Math.max(lo, first);
    const ic1 = Math.min(hi, this.last);
    if (!(ic1 > ic0)) return undefined;
    return { ic0, ic1, t0: time.pos(ic0), t1: time.pos(ic1) };
  }

  /** Idle ticks skipped in column `b` (0 outside the recording). */
  private idleIn(b: number): number {
    const col = this.time ? this.column(b) : undefined;
    if (!col) return 0;
    const idle = col.t1 - col.t0 - (col.ic1 - col.ic0) / this.time!.clock.insnsPerTick;
    return idle > 1e-6 ? idle : 0;
  }

  /**
   * The axis under the tracks, following the map between icount and guest
   * time column by column: guest time when the x axis is icount, icount when
   * it is guest time. A strip on top shades each column by how much of its
   * guest time was idle (skipped by jumps); labels at multiples of a step
   * that fits where the guest runs, each where the value passes it, those
   * that would touch the one before left out.
   */
  private drawSecondAxis(plotR: number, plotB: number): void {
    const c = this.ctx;
    c.textAlign = 'left';
    c.fillStyle = '#7d8596';
    const nameY = plotB + IDLE_STRIP_H + (AXIS2_H - IDLE_STRIP_H) / 2;
    if (!this.time) return;
    const hl = this.hover && this.onAxisName(this.hover.x, this.hover.y);
    c.fillStyle = hl ? '#ffffff' : '#9aa3b2';
    c.fillText(this.byTime ? 'icount' : 'guest time', 22, nameY);
    c.fillText(this.byTime ? 'guest time' : 'icount', 22, AXIS_H / 2);
    c.fillStyle = hl ? '#5eead4' : '#5c6370';
    c.fillText('⇅', 8, nameY);
    c.fillText('⇅', 8, AXIS_H / 2);

    const time = this.time;
    const ipt = time.clock.insnsPerTick;
    // Where the guest runs, guest time advances a tick per insnsPerTick instructions.
    const ticksPerPx = this.byTime ? this.perPx : this.perPx / ipt;
    const rate = this.byTime ? this.perPx * ipt : ticksPerPx;
    const step = niceStep(rate * 110);
    const say = (v: number) => (this.byTime ? fmtShort(v) : fmtTime(v, step, time.hz));
    const xOfValue = (v: number) => this.xOf(this.byTime ? v : time.icountAtPos(v));
    const labels: { x: number; text: string }[] = [];
    /** Stretches of columns where idle time was skipped: [x0, x1) and how much. */
    const runs: { x0: number; x1: number; idle: number }[] = [];
    for (let b = 0; b < this.plotW; b++) {
      const col = this.column(b);
      if (!col) continue;
      const x = LABEL_W + b;
      // The idle strip, darker the more of the column's guest time was idle.
      const compute = (col.ic1 - col.ic0) / ipt;
      const idle = col.t1 - col.t0 - compute;
      if (idle > 1e-6) {
        const share = Math.min(1, Math.log10(1 + idle / Math.max(compute, 1e-9)) / 2);
        c.fillStyle = `rgba(150, 160, 190, ${(0.15 + 0.75 * share).toFixed(3)})`;
        c.fillRect(x, plotB + 1, 1, IDLE_STRIP_H);
        const run = runs[runs.length - 1];
        if (run && run.x1 >= x - 2) {
          run.x1 = x + 1;
          run.idle += idle;
        } else runs.push({ x0: x, x1: x + 1, idle });
      }
      // A label where the value passes a multiple of the step ([v0, v1) holds one): the last one.
      const v0 = this.byTime ? col.ic0 : col.t0;
      const v1 = this.byTime ? col.ic1 : col.t1;
      if (!(Math.ceil(v0 / step) * step < v1)) continue;
      const v = Math.ceil(v1 / step) * step - step;
      labels.push({ x: Math.min(x + 1, Math.max(x, xOfValue(v))), text: say(v) });
    }

    // Where more idle time than a step of guest time (~110 px of running) was skipped: an axis
    // break, and how much for the largest ones that have room (by guest time the run is wide:
    // the stretch where icount stands still, named in its middle).
    const tStep = niceStep(ticksPerPx * 110);
    const y0 = plotB + IDLE_STRIP_H + 1;
    // Runs a few pixels apart are one break.
    const marks: typeof runs = [];
    for (const r of runs) {
      const m = marks[marks.length - 1];
      if (m && r.x0 - m.x1 <= 12) {
        m.x1 = r.x1;
        m.idle += r.idle;
      } else marks.push({ ...r });
    }
    const big = marks.filter((r) => r.idle >= tStep);
    /** What is drawn in the label line: [left, right), with the room each wants around it. */
    const taken: [number, number][] = [];
    const free = (l: number, r: number) => !taken.some(([tl, tr]) => l < tr && r > tl);
    c.strokeStyle = '#b4bccb';
    c.lineWidth = 1.2;
    for (const r of big) {
      if (r.x1 - r.x0 > 40) continue;
      const mid = (r.x0 + r.x1) / 2;
      for (const dx of [-2, 2]) {
        c.beginPath();
        c.moveTo(mid + dx - 2, y0 + 9);
        c.lineTo(mid + dx + 2, y0 - 1);
        c.stroke();
      }
      taken.push([mid - 5, mid + 5]);
    }
    c.lineWidth = 1;
    c.fillStyle = '#b4bccb';
    for (const r of [...big].sort((p, q) => q.idle - p.idle)) {
      const text = `+${fmtSpan(r.idle, time.hz)} idle`;
      const tw = c.measureText(text).width;
      const mid = (r.x0 + r.x1) / 2;
      const places =
        r.x1 - r.x0 > 40 ? [mid - tw / 2] : [mid + 8, mid - 8 - tw].filter((l) => l + tw <= plotR);
      const left = places.find((l) => l >= LABEL_W && free(l - 2, l + tw + 2));
      if (left === undefined) continue;
      taken.push([left - 4, left + tw + 4]);
      c.fillText(text, left, nameY + 2);
    }

    // The labels, left out where they would touch the one before, a break or its words.
    let lastRight = -Infinity;
    for (const { x, text } of labels) {
      const tw = c.measureText(text).width;
      const left = Math.min(Math.max(x - tw / 2, LABEL_W + 2), plotR - tw - 2);
      if (left < lastRight + 14 || !free(left - 8, left + tw + 8)) continue;
      lastRight = left + tw;
      c.fillStyle = '#3a4252';
      c.fillRect(Math.round(x), y0, 1, 4);
      c.fillStyle = '#8a93a3';
      c.fillText(text, left, nameY + 2);
    }
  }
}
