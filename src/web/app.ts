/**
 * The replay page: opens a recording (file picker, drag and drop,
 * `?replay=NAME_OR_URL`, or the server's list), hands it to the replay
 * worker, and shows the guest's console in xterm.js with the replay's
 * state. It also boots the guest the server offers as a live machine
 * (the live worker), recorded as it runs, for download or replay here.
 * `window.vmrs` is the hook for tests and scripts.
 */
import { Terminal } from '@xterm/xterm';
import { X_ABI_NAMES } from '../cpu/abi-names.js';
import type { Engine } from '../cpu/cpu.js';
import type {
  EventsMessage,
  FromWorker,
  MachineMessage,
  MemoryMessage,
  ReplayState,
  Seeked,
  ToWorker,
  WorkerStatus,
} from './protocol.js';
import { Timeline } from './timeline.js';
import type { FromLiveWorker, LiveStatus, ToLiveWorker } from './live-protocol.js';
import { parseGuestOffer, type GuestOffer } from './guest-offer.js';
import type { ImageRef } from '../replay/log-format.js';
import { sha256Hex } from '../util/sha256-hex.js';

interface SeekResult {
  icount: number;
  state: ReplayState;
  registers: Record<string, string>;
  ms: number;
  error: string | null;
}

interface VmrsHook {
  status(): {
    state: ReplayState;
    icount: number;
    digestsVerified: number;
    consoleText: string;
    error: string | null;
  };
  seek(icount: number): Promise<SeekResult>;
  play(): void;
  pause(): void;
  /** The register view's values (16 hex digits each); null before the machine was shown. */
  registers(): {
    icount: number;
    pc: string;
    priv: string;
    x: string[];
    csrs: Record<string, string>;
    /** The instruction at pc, disassembled (null: pc not readable). */
    insn: string | null;
  } | null;
  /** The timeline's tracks (name and number of events), once the events came; null before. */
  timeline(): {
    lastIcount: number;
    ms: number;
    /** observed: the guest's doing (frames sent, disk requests), known up to observedTo. */
    tracks: { name: string; count: number; observed: boolean }[];
    observedTo: number;
    /** Guest time at lastIcount, and at the replay's icount, in seconds (as the timeline maps them). */
    guestSeconds: number;
    cursorGuestSeconds: number;
    /** What the timeline's x axis is laid out by. */
    xAxis: string;
  } | null;
  /** The observed tracks' events (frames the guest sent, its disk requests) and how far they are known. */
  observed(): {
    observedTo: number;
    tracks: { name: string; icounts: number[]; labels: string[] }[];
  };
  /** The icount the last click on the timeline asked for (null: none yet). */
  readonly lastTimelineSeek: number | null;
  /** 'replay' (a recording open or none), or 'live' (a machine running here, recorded). */
  readonly mode: 'replay' | 'live';
  /** Boot the server's guest as a live machine (as the Boot button); rejects when none is offered. */
  boot(opts?: { embed?: boolean }): Promise<void>;
  /** The live machine's finished recording (null before it is). */
  recording(): { name: string; size: number } | null;
}

declare global {
  interface Window {
    vmrs: VmrsHook;
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from the page`);
  return e as T;
};

const ui = {
  recName: $('rec-name'),
  openBtn: $<HTMLButtonElement>('open-btn'),
  fileInput: $<HTMLInputElement>('file-input'),
  picker: $('picker'),
  serverList: $('server-list'),
  recordings: $('recordings'),
  serverEmpty: $('server-empty'),
  player: $('player'),
  playBtn: $<HTMLButtonElement>('play-btn'),
  playIcon: $('play-icon'),
  playLabel: $('play-label'),
  speed: $<HTMLSelectElement>('speed'),
  progress: $('progress'),
  progressBar: $('progress-bar'),
  icount: $('icount'),
  lastIcount: $('last-icount'),
  problem: $('problem'),
  problemTitle: $('problem-title'),
  problemMsg: $('problem-msg'),
  problemDetails: $('problem-details'),
  warnings: $('warnings'),
  terminal: $('terminal'),
  state: $('state'),
  mips: $('mips'),
  digests: $('digests'),
  exitStat: $('exit-stat'),
  statusMsg: $('status-msg'),
  dropOverlay: $('drop-overlay'),
  timeline: $<HTMLCanvasElement>('timeline'),
  stepBack: $<HTMLButtonElement>('step-back'),
  stepFwd: $<HTMLButtonElement>('step-fwd'),
  gotoForm: $<HTMLFormElement>('goto-form'),
  gotoInput: $<HTMLInputElement>('goto-input'),
  prevEvent: $<HTMLButtonElement>('prev-event'),
  nextEvent: $<HTMLButtonElement>('next-event'),
  eventKind: $<HTMLSelectElement>('event-kind'),
  tlInfo: $('tl-info'),
  tlFit: $<HTMLButtonElement>('tl-fit'),
  machine: $('machine'),
  mAt: $('m-at'),
  mPc: $('m-pc'),
  mPriv: $('m-priv'),
  mInsn: $('m-insn'),
  mListing: $('m-listing'),
  mRegs: $('m-regs'),
  mCsrs: $('m-csrs'),
  memForm: $<HTMLFormElement>('mem-form'),
  memAddr: $<HTMLInputElement>('mem-addr'),
  memPc: $<HTMLButtonElement>('mem-pc'),
  memSp: $<HTMLButtonElement>('mem-sp'),
  memNote: $('mem-note'),
  mem: $('mem'),
  liveOffer: $('live-offer'),
  liveBtn: $<HTMLButtonElement>('live-btn'),
  liveGuest: $('live-guest'),
  bootBtn: $<HTMLButtonElement>('boot-btn'),
  embedImages: $<HTMLInputElement>('embed-images'),
  ownKernel: $<HTMLInputElement>('own-kernel'),
  ownInitrd: $<HTMLInputElement>('own-initrd'),
  ownBios: $<HTMLInputElement>('own-bios'),
  ownAppend: $<HTMLInputElement>('own-append'),
  ownBootBtn: $<HTMLButtonElement>('own-boot-btn'),
  liveBar: $('live-bar'),
  replayBar: $('replay-bar'),
  liveWhat: $('live-what'),
  stopBtn: $<HTMLButtonElement>('stop-btn'),
  downloadBtn: $<HTMLAnchorElement>('download-btn'),
  replayHereBtn: $<HTMLButtonElement>('replay-here-btn'),
  recStat: $('rec-stat'),
  recSize: $('rec-size'),
  digestsK: $('digests-k'),
};

// --- the replay's state as the worker last told it

let status: WorkerStatus = {
  kind: 'status',
  state: 'idle',
  name: '',
  icount: 0,
  lastIcount: 0,
  digestsVerified: 0,
  mips: 0,
  avgMips: 0,
};
/** Set while the page itself fails (a recording that cannot be fetched, the worker lost). */
let pageError: string | undefined;
let consoleText = '';
let decoder = new TextDecoder('utf-8');
let seekId = 0;
const seeks = new Map<number, (r: SeekResult) => void>();
/** The target of the last seek sent while seeks are in flight (undefined: none). */
let heading: number | undefined;

// --- the terminal

const term = new Terminal({
  convertEol: false,
  scrollback: 10000,
  cursorBlink: false,
  disableStdin: true,
  fontFamily: '"JetBrains Mono", "DejaVu Sans Mono", Menlo, Consolas, "Liberation Mono", monospace',
  fontSize: 13,
  lineHeight: 1.15,
  theme: {
    background: '#0b0e14',
    foreground: '#d4d7de',
    cursor: '#5eead4',
    selectionBackground: '#2a3b55',
    black: '#1c212b',
    red: '#f07178',
    green: '#a6da95',
    yellow: '#f5c26b',
    blue: '#82aaff',
    magenta: '#c792ea',
    cyan: '#5eead4',
    white: '#d4d7de',
    brightBlack: '#5c6370',
    brightRed: '#ff8b92',
    brightGreen: '#c3e88d',
    brightYellow: '#ffd68a',
    brightBlue: '#a3c2ff',
    brightMagenta: '#dcb6ff',
    brightCyan: '#89f7e4',
    brightWhite: '#ffffff',
  },
});
let termOpened = false;

/** Size the terminal to its box (what @xterm/addon-fit does), from the cell size xterm.js rendered. */
function fitTerminal(): void {
  if (!termOpened) return;
  const screen = ui.terminal.querySelector<HTMLElement>('.xterm-screen');
  if (!screen || !screen.offsetHeight || !screen.offsetWidth) return;
  const cellW = screen.offsetWidth / term.cols;
  const cellH = screen.offsetHeight / term.rows;
  const box = ui.terminal.getBoundingClientRect();
  // Room for the scroll bar on the right.
  const cols = Math.max(40, Math.floor((box.width - 16) / cellW));
  const rows = Math.max(8, Math.floor(box.height / cellH));
  if (cols !== term.cols || rows !== term.rows) term.resize(cols, rows);
}

function showPlayer(): void {
  ui.picker.hidden = true;
  ui.player.hidden = false;
  if (!termOpened) {
    term.open(ui.terminal);
    termOpened = true;
    new ResizeObserver(() => fitTerminal()).observe(ui.terminal.parentElement!);
  }
  fitTerminal();
}

// --- the worker

/** Bytes the guest wrote: to the terminal, and to the text the hook reports. */
function showConsole(bytes: Uint8Array): void {
  term.write(bytes);
  consoleText += decoder.decode(bytes, { stream: true });
}

const worker = new Worker(new URL('replay-worker.js', import.meta.url), { type: 'module' });
const send = (m: ToWorker, transfer?: Transferable[]) => worker.postMessage(m, transfer ?? []);

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  switch (m.kind) {
    case 'console':
      showConsole(m.bytes);
      break;
    case 'status':
      status = m;
      render();
      break;
    case 'seeked':
      seekDone(m);
      break;
    case 'log':
      ui.statusMsg.textContent = m.text;
      break;
    case 'events':
      eventsShown(m);
      break;
    case 'actions':
      timeline.addActions(m);
      eventKindOptions();
      break;
    case 'machine':
      showMachine(m);
      break;
    case 'memory':
      showMemory(m);
      break;
  }
};
worker.onerror = (e) => {
  e.preventDefault();
  pageFailed(`the replay worker failed: ${e.message || 'it could not be loaded'}`);
};

function seekDone(m: Seeked): void {
  const resolve = m.id !== undefined ? seeks.get(m.id) : undefined;
  if (!resolve) return;
  seeks.delete(m.id!);
  if (seeks.size === 0) heading = undefined;
  resolve({
    icount: m.icount,
    state: status.state,
    registers: m.registers,
    ms: m.ms,
    error: m.error ?? null,
  });
  ui.statusMsg.textContent = m.error ? '' : `at icount ${fmt(m.icount)} (${m.ms.toFixed(0)} ms)`;
}

// --- what is shown

const fmt = (n: number) => n.toLocaleString('en-US');

function currentState(): ReplayState {
  if (pageError !== undefined) return 'error';
  return mode === 'live' ? (liveStatus?.state ?? 'loading') : status.state;
}

function currentError(): string | null {
  return pageError ?? (mode === 'live' ? liveStatus?.error : status.error) ?? null;
}

function render(): void {
  if (mode === 'live') {
    renderLive();
    return;
  }
  ui.liveBar.hidden = true;
  ui.replayBar.hidden = false;
  ui.digestsK.textContent = 'digests verified';
  ui.recStat.hidden = true;
  const state = currentState();
  ui.state.textContent = state;
  ui.state.dataset.state = state;
  document.body.dataset.state = state;
  ui.icount.textContent = fmt(status.icount);
  ui.lastIcount.textContent = fmt(status.lastIcount);
  const frac = status.lastIcount > 0 ? Math.min(1, status.icount / status.lastIcount) : 0;
  ui.progressBar.style.width = `${(frac * 100).toFixed(2)}%`;
  timeline.setCursor(status.icount);
  const canMove =
    state !== 'idle' && state !== 'loading' && status.lastIcount > 0 && pageError === undefined;
  for (const b of [ui.stepBack, ui.stepFwd, ui.prevEvent, ui.nextEvent])
    b.disabled = !canMove || !events;
  ui.machine.classList.toggle(
    'stale',
    state === 'running' || state === 'loading' || machine?.icount !== status.icount,
  );
  if (state === 'running' && status.mips > 0) {
    ui.mips.textContent = status.mips.toFixed(1);
    ui.mips.title = `average ${status.avgMips.toFixed(1)} MIPS`;
  } else if (status.avgMips > 0) {
    ui.mips.textContent = `${status.avgMips.toFixed(1)} avg`;
    ui.mips.title = 'average speed of the replay (time spent replaying forwards)';
  } else ui.mips.textContent = '–';
  ui.digests.textContent = fmt(status.digestsVerified);
  const running = state === 'running';
  ui.playBtn.disabled = !(state === 'running' || state === 'paused');
  ui.playIcon.textContent = running ? '❚❚' : '▶';
  ui.playLabel.textContent = running ? 'Pause' : 'Play';
  ui.progress.classList.toggle('seekable', status.lastIcount > 0 && state !== 'loading');
  if (status.exit && state === 'done') {
    ui.exitStat.hidden = false;
    ui.exitStat.textContent = `guest ${status.exit.kind}, status ${status.exit.status}`;
  } else ui.exitStat.hidden = true;
  if (state === 'done') {
    ui.statusMsg.textContent =
      `replay complete` +
      (status.openMs !== undefined ? ` · opened in ${status.openMs.toFixed(0)} ms` : '');
  } else if (state !== 'loading' && /^(fetching|reading) /.test(ui.statusMsg.textContent ?? '')) {
    ui.statusMsg.textContent = '';
  }
  renderProblem(state);
  const w = status.warnings ?? [];
  ui.warnings.hidden = w.length === 0;
  ui.warnings.textContent = w.map((x) => `warning: ${x}`).join('\n');
}

function renderProblem(state: ReplayState): void {
  const err = currentError();
  const show = (state === 'error' || state === 'diverged') && err !== null;
  ui.problem.hidden = !show;
  if (!show) return;
  const d = status.divergence;
  ui.problemDetails.replaceChildren();
  if (state === 'diverged' && d) {
    ui.problemTitle.textContent = `Replay diverged at icount ${fmt(d.icount)} (pc ${d.pc})`;
    ui.problemMsg.textContent = d.reason;
    for (const line of d.details.slice(0, 40)) {
      const li = document.createElement('li');
      li.textContent = line;
      ui.problemDetails.appendChild(li);
    }
  } else {
    ui.problemTitle.textContent =
      status.icount > 0 && pageError === undefined
        ? `Replay stopped at icount ${fmt(status.icount)}`
        : 'Cannot replay this recording';
    ui.problemMsg.textContent = err;
  }
}

function pageFailed(message: string): void {
  pageError = message;
  showPlayer();
  render();
}

// --- opening recordings

/** `?engine=interp|translate`: the execution engine, as `--engine` in Node (default: the core's choice). */
const engineWanted = ((): Engine | undefined => {
  // Not cpu.ts's ENGINES: importing a value from it would bundle the whole core into the page.
  const e = new URLSearchParams(location.search).get('engine');
  return e === 'interp' || e === 'translate' ? e : undefined;
})();

function setName(name: string): void {
  ui.recName.textContent = name;
  ui.recName.title = name;
  document.title = `${name} · vmrs replay`;
}

function startOpen(name: string): void {
  leaveLive();
  pageError = undefined;
  status = {
    ...status,
    state: 'loading',
    name,
    icount: 0,
    lastIcount: 0,
    digestsVerified: 0,
    mips: 0,
    avgMips: 0,
  };
  delete status.error;
  delete status.divergence;
  delete status.exit;
  delete status.warnings;
  consoleText = '';
  decoder = new TextDecoder('utf-8');
  events = undefined;
  machine = undefined;
  prevMachine = undefined;
  lastTimelineSeek = null;
  openedAt = performance.now();
  timeline.clear();
  ui.eventKind.replaceChildren();
  ui.tlInfo.textContent = '';
  setName(name);
  showPlayer();
  term.reset();
  render();
}

function openBytes(name: string, data: ArrayBuffer): void {
  send({ kind: 'open', name, recording: data, engine: engineWanted }, [data]);
  const limit = ui.speed.value === 'max' ? null : Number(ui.speed.value);
  send({ kind: 'speed', mipsLimit: limit });
}

async function openFile(file: File): Promise<void> {
  startOpen(file.name);
  ui.statusMsg.textContent = `reading ${file.name}`;
  try {
    openBytes(file.name, await file.arrayBuffer());
  } catch (e) {
    pageFailed(`${file.name} could not be read: ${(e as Error).message}`);
  }
}

async function openUrl(name: string, url: string): Promise<void> {
  startOpen(name);
  ui.statusMsg.textContent = `fetching ${name}`;
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    pageFailed(`${url} could not be fetched: ${(e as Error).message}`);
    return;
  }
  if (!res.ok) {
    const why = (await res.text().catch(() => '')).trim().slice(0, 300);
    pageFailed(`${url} could not be fetched (HTTP ${res.status}${why ? `: ${why}` : ''})`);
    return;
  }
  openBytes(name, await res.arrayBuffer());
}

interface ServerRecording {
  name: string;
  size: number;
}

/** The server's recordings (none on a static host without /api/recordings). */
async function serverRecordings(): Promise<ServerRecording[] | undefined> {
  try {
    const res = await fetch('api/recordings');
    if (!res.ok) return undefined;
    const list = (await res.json()) as unknown;
    if (!Array.isArray(list)) return undefined;
    return list.filter(
      (r): r is ServerRecording =>
        typeof r === 'object' && r !== null && typeof (r as ServerRecording).name === 'string',
    );
  } catch {
    return undefined;
  }
}

const recordingUrl = (name: string) => `recordings/${encodeURIComponent(name)}`;

function fmtSize(n: number): string {
  if (!(n >= 0)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1 << 20)).toFixed(1)} MiB`;
}

function showPicker(list: ServerRecording[] | undefined): void {
  ui.picker.hidden = false;
  ui.player.hidden = true;
  ui.recordings.replaceChildren();
  if (list && list.length) {
    ui.serverList.hidden = false;
    for (const r of list) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'rec';
      const n = document.createElement('span');
      n.className = 'rec-name';
      n.textContent = r.name;
      const s = document.createElement('span');
      s.className = 'rec-size';
      s.textContent = fmtSize(r.size);
      b.append(n, s);
      b.onclick = () => {
        const u = new URL(location.href);
        u.searchParams.set('replay', r.name);
        history.pushState(null, '', u);
        void openUrl(r.name, recordingUrl(r.name));
      };
      li.appendChild(b);
      ui.recordings.appendChild(li);
    }
  } else {
    ui.serverList.hidden = true;
    ui.serverEmpty.hidden = false;
    ui.serverEmpty.textContent = list
      ? 'The server offers no recordings.'
      : 'No recordings offered here: open one from disk.';
  }
}

async function start(): Promise<void> {
  const want = new URLSearchParams(location.search).get('replay');
  const [list] = await Promise.all([serverRecordings(), serverGuest()]);
  if (want) {
    if (list?.some((r) => r.name === want)) await openUrl(want, recordingUrl(want));
    else {
      const name = decodeURIComponent(want.split(/[?#]/)[0].split('/').pop() || want);
      await openUrl(name, want);
    }
  } else showPicker(list);
}

// --- controls

ui.openBtn.onclick = () => ui.fileInput.click();
ui.fileInput.onchange = () => {
  const f = ui.fileInput.files?.[0];
  ui.fileInput.value = '';
  if (f) void openFile(f);
};

ui.playBtn.onclick = () => {
  if (status.state === 'running') send({ kind: 'pause' });
  else if (status.state === 'paused') send({ kind: 'play' });
};

ui.speed.onchange = () => {
  const v = ui.speed.value;
  send({ kind: 'speed', mipsLimit: v === 'max' ? null : Number(v) });
};

ui.progress.onclick = (e) => {
  if (!ui.progress.classList.contains('seekable')) return;
  const r = ui.progress.getBoundingClientRect();
  const frac = Math.min(1, Math.max(0, (e.clientX - r.left) / r.width));
  void seek(Math.round(frac * status.lastIcount));
};

let dragDepth = 0;
const isFileDrag = (e: DragEvent) => e.dataTransfer?.types.includes('Files') ?? false;
window.addEventListener('dragenter', (e) => {
  if (!isFileDrag(e)) return;
  e.preventDefault();
  dragDepth++;
  ui.dropOverlay.hidden = false;
});
window.addEventListener('dragover', (e) => {
  if (!isFileDrag(e)) return;
  e.preventDefault();
  e.dataTransfer!.dropEffect = 'copy';
});
window.addEventListener('dragleave', () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    ui.dropOverlay.hidden = true;
  }
});
window.addEventListener('drop', (e) => {
  e.preventDefault();
  dragDepth = 0;
  ui.dropOverlay.hidden = true;
  const f = e.dataTransfer?.files[0];
  if (f) void openFile(f);
});

// Keys, where they are not typing (the terminal, the address fields): space plays or pauses;
// ← → step one instruction; shift+← → go to the previous or next event of the kind chosen.
window.addEventListener('keydown', (e) => {
  const t = e.target instanceof Element ? e.target : null;
  if (t && (t.closest('input, textarea, select, [contenteditable]') || ui.terminal.contains(t)))
    return;
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  // A focused button takes space itself.
  if (e.key === ' ' && t instanceof HTMLButtonElement) return;
  const press = (b: HTMLButtonElement) => {
    e.preventDefault();
    if (!b.disabled) b.click();
  };
  if (e.key === ' ') press(ui.playBtn);
  else if (e.key === 'ArrowLeft') press(e.shiftKey ? ui.prevEvent : ui.stepBack);
  else if (e.key === 'ArrowRight') press(e.shiftKey ? ui.nextEvent : ui.stepFwd);
});

window.addEventListener('popstate', () => location.reload());

// --- the timeline

let events: EventsMessage | undefined;
let lastTimelineSeek: number | null = null;
/** When the open began (performance.now()), for the time to show the timeline. */
let openedAt = 0;
let timelineMs = 0;

const timeline = new Timeline(ui.timeline, {
  onSeek: (icount) => {
    if (!events) return;
    lastTimelineSeek = icount;
    void seek(icount);
  },
  onSelect: (t) => {
    ui.eventKind.value = String(t);
  },
});

function eventsShown(m: EventsMessage): void {
  events = m;
  timeline.setEvents(m);
  eventKindOptions();
  timelineMs = performance.now() - openedAt;
  const n = m.tracks.reduce((s, t) => s + t.icounts.length, 0);
  ui.tlInfo.textContent = `${fmt(n)} events read in ${m.ms.toFixed(0)} ms · timeline ${timelineMs.toFixed(0)} ms after open`;
  render();
}

/** The kinds "next/previous event" can go to: those with events, and the observed ones. */
function eventKindOptions(): void {
  if (!events) return;
  const picked = ui.eventKind.value;
  ui.eventKind.replaceChildren();
  events.tracks.forEach((t, i) => {
    if (!t.icounts.length && !t.observed) return;
    const o = document.createElement('option');
    o.value = String(i);
    o.textContent = `${t.name} (${fmt(t.icounts.length)}${t.observed && timeline.observedUpTo < events!.lastIcount ? ' so far' : ''})`;
    ui.eventKind.appendChild(o);
  });
  ui.eventKind.value = picked || (timeline.selected >= 0 ? String(timeline.selected) : '');
}

/** Where the replay will be once the seeks sent are done (keys pressed fast step from there). */
function position(): number {
  return heading ?? status.icount;
}

function seekBy(delta: number): void {
  const target = position() + delta;
  if (target >= 0) void seek(Math.min(target, status.lastIcount));
}

function seekEvent(dir: 1 | -1): void {
  const t = Number(ui.eventKind.value);
  if (!events || !(t >= 0)) return;
  const at = timeline.neighbour(t, position(), dir);
  if (at === undefined) {
    ui.statusMsg.textContent = `no ${dir > 0 ? 'later' : 'earlier'} ${events.tracks[t].name} event`;
    return;
  }
  void seek(at);
}

ui.tlFit.onclick = () => timeline.fit();
ui.stepBack.onclick = () => seekBy(-1);
ui.stepFwd.onclick = () => seekBy(1);
ui.prevEvent.onclick = () => seekEvent(-1);
ui.nextEvent.onclick = () => seekEvent(1);
ui.eventKind.onchange = () => timeline.select(Number(ui.eventKind.value));
ui.gotoForm.onsubmit = (e) => {
  e.preventDefault();
  const v = Number(ui.gotoInput.value.replace(/[,_\s]/g, ''));
  if (!Number.isSafeInteger(v) || v < 0) {
    ui.statusMsg.textContent = `'${ui.gotoInput.value}' is not an instruction count`;
    return;
  }
  void seek(v);
};

// --- the machine view

let machine: MachineMessage | undefined;
let prevMachine: MachineMessage | undefined;
let memId = 0;
/** The address the memory view follows ('' : pc). */
let memWanted = '';

/** 16 hex digits as two groups of 8, easier to read. */
const hx = (v: string) => `${v.slice(0, 8)}_${v.slice(8)}`;

function regCell(name: string, value: string, before: string | undefined): HTMLElement {
  const d = document.createElement('div');
  d.className = 'm-reg';
  const n = document.createElement('span');
  n.className = 'n';
  n.textContent = name;
  const v = document.createElement('span');
  v.className = 'v';
  v.textContent = hx(value);
  if (/^0+$/.test(value)) v.classList.add('zero');
  else if (before !== undefined && before !== value) v.classList.add('changed');
  d.append(n, v);
  return d;
}

function showMachine(m: MachineMessage): void {
  // What changed is marked against the view before, if it was another position.
  if (machine && machine.icount !== m.icount) prevMachine = machine;
  machine = m;
  const before = prevMachine;
  ui.mAt.textContent = `icount ${fmt(m.icount)}`;
  ui.mPc.textContent = hx(m.pc);
  ui.mPriv.textContent = { M: 'M (machine)', S: 'S (supervisor)', U: 'U (user)' }[m.priv] ?? m.priv;
  ui.mInsn.replaceChildren();
  const k = document.createElement('span');
  k.className = 'k';
  k.textContent = 'insn ';
  const v = document.createElement('span');
  v.className = 'v';
  const asm = document.createElement('span');
  asm.className = 'asm';
  const note = document.createElement('span');
  note.className = 'note';
  if (m.insn) {
    v.textContent = m.insn.length === 4 ? m.insn.hex : `${m.insn.hex}    `;
    asm.textContent = `  ${m.insn.asm}`;
    if (m.insn.length === 2) note.textContent = '  compressed';
  } else {
    v.textContent = '????????';
    note.textContent = '  pc is not mapped to RAM';
  }
  ui.mInsn.append(k, v, asm, note);
  // What comes next from pc (the address without its top half when that is all ones or zeros).
  const rows = document.createDocumentFragment();
  for (const [n, i] of m.listing.entries()) {
    const row = document.createElement('div');
    row.className = n === 0 ? 'at' : '';
    const a = document.createElement('span');
    a.className = 'a';
    a.textContent = /^(ffffffff|00000000)/.test(i.address) ? i.address.slice(8) : hx(i.address);
    const h = document.createElement('span');
    h.className = 'h';
    h.textContent = i.hex.padStart(8);
    const t = document.createElement('span');
    t.textContent = i.asm;
    row.append(a, h, t);
    rows.appendChild(row);
  }
  ui.mListing.replaceChildren(rows);
  // The listing says it all when there is one; the line above only says why there is none.
  ui.mInsn.hidden = m.listing.length > 0;
  // x0..x15 in the left column, x16..x31 in the right.
  const cells: HTMLElement[] = [];
  for (let row = 0; row < 16; row++)
    for (const i of [row, row + 16])
      cells.push(regCell(`x${i} ${X_ABI_NAMES[i]}`, m.x[i], before?.x[i]));
  ui.mRegs.replaceChildren(...cells);
  const csrs = Object.entries(m.csrs).map(([n, val]) => regCell(n, val, before?.csrs[n]));
  ui.mCsrs.replaceChildren(...csrs);
  readMemory();
  render();
}

function readMemory(): void {
  if (!machine) return;
  let addr = memWanted;
  if (!addr) addr = (BigInt(`0x${machine.pc}`) & ~15n).toString(16);
  send({ kind: 'memory', addr, id: ++memId });
}

function showMemory(m: MemoryMessage): void {
  if (m.id !== memId) return;
  if (m.error) {
    ui.memNote.textContent = m.error;
    ui.mem.replaceChildren();
    return;
  }
  ui.memNote.textContent =
    `virtual ${hx(m.addr)} → ` +
    (m.physical === null
      ? 'not mapped'
      : `physical ${hx(m.physical)}${m.bytes.length < 256 ? ` (RAM for ${m.bytes.length} bytes)` : ''}`);
  const base = BigInt(`0x${m.addr}`);
  const frag = document.createDocumentFragment();
  const span = (cls: string, text: string) => {
    const e = document.createElement('span');
    e.className = cls;
    e.textContent = text;
    frag.appendChild(e);
  };
  for (let row = 0; row < 16; row++) {
    const a = (base + BigInt(row * 16)) & 0xffffffffffffffffn;
    span('a', `${a.toString(16).padStart(16, '0')}  `);
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      const j = row * 16 + i;
      const sep = i === 7 ? '  ' : ' ';
      if (j < m.bytes.length) {
        const b = m.bytes[j];
        span(b === 0 ? 'z' : '', b.toString(16).padStart(2, '0') + sep);
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        span('z', '--' + sep);
        ascii += ' ';
      }
    }
    span('s', ` ${ascii}\n`);
  }
  ui.mem.replaceChildren(frag);
}

ui.memForm.onsubmit = (e) => {
  e.preventDefault();
  memWanted = ui.memAddr.value.trim().replace(/^0x/i, '').replace(/_/g, '');
  readMemory();
};
ui.memPc.onclick = () => {
  memWanted = '';
  ui.memAddr.value = '';
  readMemory();
};
ui.memSp.onclick = () => {
  if (!machine) return;
  memWanted = (BigInt(`0x${machine.x[2]}`) & ~15n).toString(16);
  ui.memAddr.value = memWanted;
  readMemory();
};

// --- the live machine

let mode: 'replay' | 'live' = 'replay';
let offer: GuestOffer | undefined;
let liveWorker: Worker | undefined;
let liveStatus: LiveStatus | undefined;
let liveRecording: { name: string; bytes: Uint8Array; url: string } | undefined;
const encoder = new TextEncoder();

/** The guest the server offers to boot (none on a static host, or when it has none). */
async function serverGuest(): Promise<void> {
  try {
    const res = await fetch('api/guest');
    if (!res.ok) return;
    offer = parseGuestOffer(await res.json());
  } catch {
    offer = undefined;
  }
  ui.liveOffer.hidden = !offer;
  ui.liveBtn.hidden = !offer;
  if (offer) {
    ui.liveGuest.textContent = offer.name;
    ui.ownAppend.value = offer.machine.append;
  }
}

/**
 * The server's guest with the images chosen from disk in place of its own
 * (named by file name and digest), and their bytes for the worker.
 */
async function ownGuest(): Promise<{ guest: GuestOffer; local: Record<string, ArrayBuffer> }> {
  if (!offer) throw new Error('this server offers no guest to start from');
  const local: Record<string, ArrayBuffer> = {};
  const ref = async (name: string, input: HTMLInputElement): Promise<ImageRef | undefined> => {
    const f = input.files?.[0];
    if (!f) return undefined;
    const bytes = await f.arrayBuffer();
    local[name] = bytes;
    return { path: f.name, size: bytes.byteLength, sha256: await sha256Hex(bytes), embedded: true };
  };
  const kernel = await ref('kernel', ui.ownKernel);
  const guest: GuestOffer = {
    name: kernel ? kernel.path : offer.name,
    machine: { ...offer.machine, append: ui.ownAppend.value },
    bios: (await ref('bios', ui.ownBios)) ?? offer.bios,
    kernel: kernel ?? offer.kernel,
    initrd: (await ref('initrd', ui.ownInitrd)) ?? offer.initrd,
  };
  return { guest, local };
}

const sendLive = (m: ToLiveWorker, transfer?: Transferable[]) =>
  liveWorker?.postMessage(m, transfer ?? []);

function bootLive(
  embed: boolean,
  own?: { guest: GuestOffer; local: Record<string, ArrayBuffer> },
): Promise<void> {
  if (!offer) return Promise.reject(new Error('this server offers no guest to boot'));
  const guest = own?.guest ?? offer;
  liveWorker?.terminate();
  pageError = undefined;
  mode = 'live';
  document.body.classList.add('live');
  liveStatus = undefined;
  if (liveRecording) URL.revokeObjectURL(liveRecording.url);
  liveRecording = undefined;
  consoleText = '';
  decoder = new TextDecoder('utf-8');
  setName(`live: ${guest.name}`);
  document.title = `live machine · vmrs`;
  showPlayer();
  term.reset();
  term.options.disableStdin = false;
  term.focus();
  const w = new Worker(new URL('live-worker.js', import.meta.url), { type: 'module' });
  liveWorker = w;
  w.onmessage = (e: MessageEvent<FromLiveWorker>) => {
    if (w !== liveWorker) return;
    const m = e.data;
    switch (m.kind) {
      case 'console':
        showConsole(m.bytes);
        break;
      case 'status':
        liveStatus = m;
        render();
        break;
      case 'recording': {
        const blob = new Blob([m.bytes as Uint8Array<ArrayBuffer>], {
          type: 'application/octet-stream',
        });
        liveRecording = { name: m.name, bytes: m.bytes, url: URL.createObjectURL(blob) };
        render();
        break;
      }
      case 'log':
        ui.statusMsg.textContent = m.text;
        break;
    }
  };
  w.onerror = (e) => {
    e.preventDefault();
    pageFailed(`the live machine's worker failed: ${e.message || 'it could not be loaded'}`);
  };
  const local = own?.local;
  sendLive(
    { kind: 'boot', offer: guest, embed, engine: engineWanted, ...(local && { local }) },
    local ? Object.values(local) : undefined,
  );
  render();
  return Promise.resolve();
}

/** Back to replaying: the live machine (if any) is dropped, its recording kept for download. */
function leaveLive(): void {
  if (mode !== 'live') return;
  mode = 'replay';
  document.body.classList.remove('live');
  term.options.disableStdin = true;
  liveWorker?.terminate();
  liveWorker = undefined;
}

const fmtKiB = (n: number) =>
  n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`;

function renderLive(): void {
  const state = currentState();
  const st = liveStatus;
  ui.state.textContent = state === 'running' ? 'recording' : state;
  ui.state.dataset.state = state;
  document.body.dataset.state = state;
  ui.liveBar.hidden = false;
  ui.replayBar.hidden = true;
  ui.mips.textContent = st && st.mips > 0 ? st.mips.toFixed(1) : '–';
  ui.digestsK.textContent = 'digests recorded';
  ui.digests.textContent = fmt(st?.digests ?? 0);
  ui.recStat.hidden = false;
  ui.recSize.textContent = st ? `${fmt(st.events)} events · ${fmtKiB(st.bytes)}` : '–';
  ui.liveWhat.textContent = st ? `icount ${fmt(st.icount)}` : 'starting…';
  ui.stopBtn.disabled = state !== 'running';
  const rec = liveRecording;
  if (rec) {
    ui.downloadBtn.href = rec.url;
    ui.downloadBtn.download = rec.name;
    ui.downloadBtn.setAttribute('aria-disabled', 'false');
    ui.downloadBtn.textContent = `Download ${rec.name} (${fmtKiB(rec.bytes.length)})`;
  } else {
    ui.downloadBtn.removeAttribute('href');
    ui.downloadBtn.setAttribute('aria-disabled', 'true');
    ui.downloadBtn.textContent = 'Download recording';
  }
  ui.replayHereBtn.disabled = !rec;
  if (st?.exit && (state === 'done' || state === 'error')) {
    ui.exitStat.hidden = false;
    ui.exitStat.textContent = `guest ${st.exit.kind}, status ${st.exit.status}`;
  } else ui.exitStat.hidden = true;
  if (state === 'running')
    ui.statusMsg.textContent =
      st?.bootMs !== undefined
        ? `type into the console · booted in ${(st.bootMs / 1000).toFixed(1)} s`
        : '';
  else if (state === 'done')
    ui.statusMsg.textContent = 'recording complete: download it, or replay it here';
  ui.problem.hidden = state !== 'error';
  if (state === 'error') {
    ui.problemTitle.textContent = liveRecording
      ? `The machine stopped at icount ${fmt(st?.icount ?? 0)}`
      : 'Cannot boot the guest';
    ui.problemMsg.textContent = currentError();
    ui.problemDetails.replaceChildren();
  }
  ui.warnings.hidden = true;
}

term.onData((data) => {
  if (mode === 'live' && liveStatus?.state === 'running')
    sendLive({ kind: 'input', bytes: encoder.encode(data) });
});

ui.bootBtn.onclick = () => void bootLive(ui.embedImages.checked);
const ownChosen = () => {
  ui.ownBootBtn.disabled = ![ui.ownKernel, ui.ownInitrd, ui.ownBios].some((i) => i.files?.length);
};
for (const i of [ui.ownKernel, ui.ownInitrd, ui.ownBios]) i.onchange = ownChosen;
ui.ownBootBtn.onclick = () => {
  ownGuest().then(
    (own) => bootLive(ui.embedImages.checked, own),
    (e: unknown) =>
      pageFailed(`cannot read the images chosen: ${e instanceof Error ? e.message : String(e)}`),
  );
};
ui.liveBtn.onclick = () => {
  if (
    mode === 'live' &&
    liveStatus?.state === 'running' &&
    !confirm('Stop this machine and boot a new one?')
  )
    return;
  void bootLive(ui.embedImages.checked);
};
ui.stopBtn.onclick = () => sendLive({ kind: 'stop' });
ui.replayHereBtn.onclick = () => {
  const rec = liveRecording;
  if (!rec) return;
  startOpen(rec.name);
  openBytes(rec.name, rec.bytes.slice().buffer);
};

// --- the hook

function seek(icount: number): Promise<SeekResult> {
  if (!Number.isSafeInteger(icount) || icount < 0)
    return Promise.reject(new RangeError(`seek: ${icount} is not an instruction count`));
  const id = ++seekId;
  heading = icount;
  ui.statusMsg.textContent = `going to icount ${fmt(icount)}…`;
  return new Promise((resolve) => {
    seeks.set(id, resolve);
    send({ kind: 'seek', icount, id });
  });
}

window.vmrs = {
  status: () => ({
    state: currentState(),
    icount: mode === 'live' ? (liveStatus?.icount ?? 0) : status.icount,
    digestsVerified: mode === 'live' ? 0 : status.digestsVerified,
    consoleText,
    error: currentError(),
  }),
  seek,
  play: () => send({ kind: 'play' }),
  pause: () => send({ kind: 'pause' }),
  registers: () =>
    machine
      ? {
          icount: machine.icount,
          pc: machine.pc,
          priv: machine.priv,
          x: [...machine.x],
          csrs: { ...machine.csrs },
          insn: machine.insn?.asm ?? null,
        }
      : null,
  timeline: () =>
    events
      ? {
          lastIcount: events.lastIcount,
          ms: timelineMs,
          tracks: events.tracks.map((t) => ({
            name: t.name,
            count: t.icounts.length,
            observed: t.observed ?? false,
          })),
          observedTo: timeline.observedUpTo,
          guestSeconds: timeline.guestSecondsAt(events.lastIcount) ?? 0,
          cursorGuestSeconds: timeline.guestSecondsAt(status.icount) ?? 0,
          xAxis: timeline.xAxis,
        }
      : null,
  observed: () => ({
    observedTo: timeline.observedUpTo,
    tracks: (events?.tracks ?? [])
      .filter((t) => t.observed)
      .map((t) => ({
        name: t.name,
        icounts: Array.from(t.icounts),
        labels: [...(t.labels ?? [])],
      })),
  }),
  get lastTimelineSeek() {
    return lastTimelineSeek;
  },
  get mode() {
    return mode;
  },
  boot: (opts) => bootLive(opts?.embed ?? false),
  recording: () =>
    liveRecording ? { name: liveRecording.name, size: liveRecording.bytes.length } : null,
};

render();
void start();
