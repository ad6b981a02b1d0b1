/**
 * SiFive PLIC as on QEMU virt: priorities at +4*src, pending bits at
 * +0x1000, enables at +0x2000 + 0x80*ctx, threshold and claim/complete at
 * +0x200000 + 0x1000*ctx. Two contexts per hart: 2h is M-mode (MEIP), 2h+1
 * is S-mode (SEIP). Sources are level-triggered.
 */
import {
  MIP_MEIP,
  MIP_SEIP,
  type HartInterruptLines,
  type IrqLine,
  type MmioDevice,
} from './device.js';
import { loadFields, saveFields, type State } from '../snapshot/state.js';

/** The fields that make up this part's state (snapshots, checkpoints). */
const PLIC_FIELDS = ['priority', 'level', 'pending', 'claimed', 'enable', 'threshold'];

export class Plic implements MmioDevice {
  readonly name = 'plic';
  private readonly priority: Uint32Array;
  private readonly level: Uint8Array;
  private readonly pending: Uint8Array;
  /** Claimed and not yet completed: not pended again until completion. */
  private readonly claimed: Uint8Array;
  private readonly enable: Uint32Array; // [ctx * words + w]
  private readonly threshold: Uint32Array;
  private readonly words: number;
  private readonly contexts: number;

  constructor(
    private readonly lines: HartInterruptLines,
    harts = 1,
    readonly numSources = 96,
  ) {
    this.priority = new Uint32Array(numSources + 1);
    this.level = new Uint8Array(numSources + 1);
    this.pending = new Uint8Array(numSources + 1);
    this.claimed = new Uint8Array(numSources + 1);
    this.words = Math.ceil((numSources + 1) / 32);
    this.contexts = 2 * harts;
    this.enable = new Uint32Array(this.contexts * this.words);
    this.threshold = new Uint32Array(this.contexts);
  }

  saveState(): State {
    return saveFields(this, PLIC_FIELDS);
  }

  loadState(s: State): void {
    loadFields(this, s, PLIC_FIELDS, 'plic');
  }

  irq(source: number): IrqLine {
    if (source < 1 || source > this.numSources)
      throw new Error(`PLIC source ${source} out of range`);
    return { set: (lvl: boolean) => this.setLevel(source, lvl) };
  }

  private setLevel(src: number, lvl: boolean): void {
    const v = lvl ? 1 : 0;
    if (this.level[src] === v) return; // devices re-assert their lines often; only edges matter
    this.level[src] = v;
    if (lvl && !this.claimed[src]) this.pending[src] = 1;
    else if (!lvl) this.pending[src] = 0;
    this.update();
  }

  /** Best pending+enabled source above threshold for a context (ties: lowest id), or 0. */
  private best(ctx: number): number {
    let best = 0,
      bestPrio = this.threshold[ctx];
    for (let s = 1; s <= this.numSources; s++) {
      if (!this.pending[s]) continue;
      if (((this.enable[ctx * this.words + (s >> 5)] >>> (s & 31)) & 1) === 0) continue;
      const p = this.priority[s];
      if (p > bestPrio) {
        best = s;
        bestPrio = p;
      }
    }
    return best;
  }

  private update(): void {
    for (let ctx = 0; ctx < this.contexts; ctx++) {
      this.lines.setPending(ctx >> 1, ctx & 1 ? MIP_SEIP : MIP_MEIP, this.best(ctx) !== 0);
    }
  }

  read(offset: number, width: 1 | 2 | 4): number {
    if (width !== 4 || offset & 3) return 0;
    if (offset < 0x1000) {
      const s = offset >> 2;
      return s <= this.numSources ? this.priority[s] : 0;
    }
    if (offset < 0x2000) {
      const w = (offset - 0x1000) >> 2;
      if (w >= this.words) return 0;
      let v = 0;
      for (let b = 0; b < 32; b++) if (this.pending[w * 32 + b]) v |= 1 << b;
      return v >>> 0;
    }
    if (offset < 0x200000) {
      const ctx = (offset - 0x2000) >> 7;
      const w = ((offset - 0x2000) & 0x7f) >> 2;
      if (ctx >= this.contexts || w >= this.words) return 0;
      return this.enable[ctx * this.words + w];
    }
    const ctx = (offset - 0x200000) >> 12;
    if (ctx >= this.contexts) return 0;
    const reg = offset & 0xfff;
    if (reg === 0) return this.threshold[ctx];
    if (reg === 4) {
      // claim
      const s = this.best(ctx);
      if (s) {
        this.pending[s] = 0;
        this.claimed[s] = 1;
        this.update();
      }
      return s;
    }
    return 0;
  }

  write(offset: number, width: 1 | 2 | 4, value: number): void {
    if (width !== 4 || offset & 3) return;
    if (offset < 0x1000) {
      const s = offset >> 2;
      if (s >= 1 && s <= this.numSources) this.priority[s] = value & 7;
    } else if (offset < 0x2000) {
      return; // pending bits are read-only
    } else if (offset < 0x200000) {
      const ctx = (offset - 0x2000) >> 7;
      const w = ((offset - 0x2000) & 0x7f) >> 2;
      if (ctx >= this.contexts || w >= this.words) return;
      this.enable[ctx * this.words + w] = w === 0 ? value & ~1 : value; // source 0 does not exist
    } else {
      const ctx = (offset - 0x200000) >> 12;
      if (ctx >= this.contexts) return;
      const reg = offset & 0xfff;
      if (reg === 0) this.threshold[ctx] = value & 7;
      else if (reg === 4) {
        // complete
        const s = value >>> 0;
        if (s >= 1 && s <= this.numSources && this.claimed[s]) {
          this.claimed[s] = 0;
          if (this.level[s]) this.pending[s] = 1;
        }
      }
    }
    this.update();
  }
}
