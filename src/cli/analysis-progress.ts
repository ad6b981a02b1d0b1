/**
 * The progress line of an analysis over a replay (`vmrs trace`, `vmrs
 * profile`) on a terminal: how far, at what speed, how long is left.
 */
import cliProgress from 'cli-progress';

export interface AnalysisProgress {
  /** The replay is at `icount`. */
  update(icount: number): void;
  stop(): void;
}

/** `total`: the recording's last icount (0 when unknown: no line is shown). */
export function analysisProgress(label: string, total: number, show: boolean): AnalysisProgress {
  if (!show || total <= 0) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {mips} MIPS | {left} left`,
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = performance.now();
  let from = -1;
  bar.start(total, 0, { mips: '-', left: '-' });
  return {
    update(icount) {
      if (from < 0) from = icount;
      const secs = (performance.now() - t0) / 1000;
      const rate = (icount - from) / Math.max(secs, 1e-3);
      bar.update(Math.min(icount, total), {
        mips: (rate / 1e6).toFixed(0),
        left: rate > 0 ? `${Math.max(0, (total - icount) / rate).toFixed(0)} s` : '-',
      });
    },
    stop: () => bar.stop(),
  };
}

/** A terminal progress line: segments done, instructions per second, time left. */
export function segmentsProgress(label: string, total: number, segments: number, show: boolean) {
  const at = new Map<number, number>();
  let finished = 0;
  let doneInsns = 0;
  const t0 = performance.now();
  const bar = show
    ? new cliProgress.SingleBar(
        {
          format: `${label} [{bar}] {percentage}% | segments {segs} | {mips} MIPS | {left} left`,
          hideCursor: true,
          clearOnComplete: true,
          stream: process.stderr,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  bar?.start(Math.max(1, total), 0, { segs: `0/${segments}`, mips: '-', left: '-' });
  const update = () => {
    let sum = doneInsns;
    for (const v of at.values()) sum += v;
    const secs = (performance.now() - t0) / 1000;
    const rate = sum / Math.max(secs, 1e-3);
    bar?.update(Math.min(sum, total), {
      segs: `${finished}/${segments}`,
      mips: (rate / 1e6).toFixed(0),
      left: rate > 0 ? `${Math.max(0, (total - sum) / rate).toFixed(0)} s` : '-',
    });
  };
  return {
    progress(index: number, insns: number) {
      at.set(index, insns);
      update();
    },
    done(r: { index: number; instructions: number }) {
      at.delete(r.index);
      doneInsns += r.instructions;
      finished++;
      update();
    },
    stop() {
      bar?.stop();
    },
  };
}
