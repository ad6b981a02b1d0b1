/**
 * The timeline: the recording along instruction count on a <canvas>, one
 * track per kind of event (as the worker read them: protocol.ts
 * EventsMessage). Wheel zooms about the mouse, drag pans, hover says what an
 * event was, a click asks to go there (onSeek); the cursor line follows the
 * replay. Drawing is per pixel column, not per event: a track with millions
 * of events costs a binary search per column it marks.
 */
import type { EventTrack, EventsMessage } from './protocol.js';

export interface TimelineOptions {
  /** A click on the timeline: go to this icount. */
  onSeek(icount: number): void;
  /** The track picked (a click on its name) changed. */
  onSelect?(track: number): void;
}

const LABEL_W = 138;
const AXIS_H = 22;
const ROW_H = 19;
const PAD_R = 14;
const FOOT_H = 16;

const COLORS: Record<string, string> = {
  'console in': '#5eead4',
  'net frames in': '#82aaff',
  'net link': '#a3c2ff',
  entropy: '#c792ea',
  'idle jumps': '#7d8596',
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

export class Timeline {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly tip: HTMLDivElement;
  private tracks: EventTrack[] = [];
  /** The tracks drawn (those with events), as indexes into tracks. */
  private shown: number[] = [];
  private last = 0;
  private damagedFrom: number | undefined;
  /** The view: the icount at the left edge of the plot and icounts per CSS pixel. */
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

  setEvents(m: EventsMessage): void {
    this.tracks = m.tracks;
    this.shown = m.tracks.flatMap((t, i) => (t.icounts.length ? [i] : []));
    this.last = Math.max(1, m.lastIcount);
    this.damagedFrom = m.damagedFrom;
    if (this.selected < 0 || !this.tracks[this.selected]?.icounts.length)
      this.selected = this.shown.length ? this.shown[0] : -1;
    this.resize();
    this.fit();
  }

  clear(): void {
    this.tracks = [];
    this.shown = [];
    this.last = 0;
    this.cursor = 0;
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

  /** Show the whole recording. */
  fit(): void {
    this.start = 0;
    this.perPx = this.last / Math.max(1, this.plotW);
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
    const v = Math.round(this.start + (x - LABEL_W) * this.perPx);
    return Math.min(this.last, Math.max(0, v));
  }

  private xOf(icount: number): number {
    return LABEL_W + (icount - this.start) / this.perPx;
  }

  private get plotW(): number {
    return Math.max(1, this.width - LABEL_W - PAD_R);
  }

  private resize(): void {
    const box = this.canvas.parentElement!.getBoundingClientRect();
    const w = Math.max(200, Math.floor(box.width));
    const h = AXIS_H + Math.max(1, this.shown.length) * ROW_H + FOOT_H + 4;
    const keepFit = this.width === 0 || (this.start === 0 && this.perPx * this.plotW >= this.last);
    this.width = w;
    this.height = h;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (keepFit) this.perPx = this.last / this.plotW;
    this.clampView();
    this.redraw();
  }

  private clampView(): void {
    const minPer = 1 / 40;
    const maxPer = Math.max(minPer, (this.last * 1.02) / this.plotW);
    this.perPx = Math.min(maxPer, Math.max(minPer, this.perPx));
    const span = this.perPx * this.plotW;
    this.start = Math.min(Math.max(0, this.last - span), Math.max(0, this.start));
    if (span >= this.last) this.start = 0;
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
    this.redraw();
  }

  private up(e: PointerEvent): void {
    const d = this.drag;
    this.drag = undefined;
    this.canvas.style.cursor = '';
    if (!d || d.moved || !this.last) return;
    const { x, y } = this.local(e);
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
    const at = this.start + (x - LABEL_W) * this.perPx;
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
    const plotB = AXIS_H + this.shown.length * ROW_H;

    // The axis: "nice" steps of 1, 2 or 5 × 10^k icounts, about every 110 px.
    const span = this.perPx * this.plotW;
    const rough = (span / this.plotW) * 110;
    const p10 = 10 ** Math.floor(Math.log10(Math.max(1, rough)));
    const step = [1, 2, 5, 10].map((m) => m * p10).find((s) => s >= rough) ?? 10 * p10;
    c.strokeStyle = '#1d2430';
    c.fillStyle = '#7d8596';
    c.lineWidth = 1;
    c.textAlign = 'center';
    for (let v = Math.ceil(this.start / step) * step; v <= this.start + span; v += step) {
      const x = Math.round(this.xOf(v)) + 0.5;
      c.beginPath();
      c.moveTo(x, AXIS_H - 4);
      c.lineTo(x, plotB);
      c.stroke();
      c.fillText(fmtShort(v), Math.min(Math.max(x, LABEL_W + 16), plotR - 16), AXIS_H / 2);
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
      c.fillText(fmtShort(track.icounts.length), LABEL_W - 8, y0 + ROW_H / 2);
      c.textAlign = 'left';
      // One mark per pixel column that holds events: from each mark, jump to the next column.
      const a = track.icounts;
      c.fillStyle = color;
      const top = y0 + 3;
      const hgt = ROW_H - 6;
      let i = lowerBound(a, this.start - this.perPx);
      while (i < a.length) {
        const x = this.xOf(a[i]);
        if (x > plotR + 1) break;
        const px = Math.floor(x);
        c.fillRect(px, top, track.name === 'end' ? 3 : 1.5, hgt);
        const ni = lowerBound(a, this.start + (px + 1 - LABEL_W) * this.perPx);
        i = ni > i ? ni : i + 1;
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
    }

    // The foot: what is shown, and the tracks without events.
    c.fillStyle = '#5c6370';
    const empty = this.tracks.filter((t) => !t.icounts.length).map((t) => t.name);
    c.fillText(
      `icount ${fmt(Math.round(this.start))} – ${fmt(Math.round(Math.min(this.last, this.start + span)))}` +
        `   ·   click: go there · wheel: zoom · drag: pan · click a name: pick the kind` +
        (empty.length ? `   ·   no events: ${empty.join(', ')}` : ''),
      LABEL_W,
      plotB + FOOT_H / 2 + 3,
    );

    // Hover: a line and what is there.
    const hv = this.hover;
    if (hv && !this.drag?.moved && hv.x >= LABEL_W && hv.x <= plotR) {
      const hit = this.hitAt(hv.x, hv.y);
      const x = hit ? this.xOf(hit.icount) : hv.x;
      c.strokeStyle = 'rgba(255, 255, 255, 0.35)';
      c.beginPath();
      c.moveTo(Math.round(x) + 0.5, AXIS_H);
      c.lineTo(Math.round(x) + 0.5, plotB);
      c.stroke();
      let text: string;
      if (hit) {
        const tr = this.tracks[hit.track];
        const label = tr.labels?.[hit.index];
        text = `${tr.name} at icount ${fmt(hit.icount)}${label ? `\n${label}` : ''}`;
      } else text = `icount ${fmt(this.icountAt(hv.x))} · click to go there`;
      this.tip.textContent = text;
      this.tip.hidden = false;
      const left = Math.min(Math.max(0, x + 12), w - 320);
      this.tip.style.left = `${left}px`;
      this.tip.style.top = `${Math.min(hv.y + 14, h - 10)}px`;
    } else this.tip.hidden = true;
  }
}
