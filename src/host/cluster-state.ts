/** Snapshot state of a copy-on-write disk layer: the clusters the guest wrote. */
import { SnapshotError, type State } from '../snapshot/state.js';

export function saveClusters(clusters: Map<number, Uint8Array>, clusterSize: number): State {
  return {
    clusterSize,
    index: [...clusters.keys()],
    data: [...clusters.values()].map((d) => d.slice()),
  };
}

export function loadClusters(
  clusters: Map<number, Uint8Array>,
  clusterSize: number,
  s: State,
): void {
  const { index, data } = s;
  const bad = () => new SnapshotError('disk state in the snapshot is malformed');
  if (s.clusterSize !== clusterSize || !Array.isArray(index) || !Array.isArray(data)) throw bad();
  if (index.length !== data.length) throw bad();
  const loaded = new Map<number, Uint8Array>();
  index.forEach((c, i) => {
    const d = data[i];
    if (typeof c !== 'number' || !(d instanceof Uint8Array) || d.length !== clusterSize)
      throw bad();
    loaded.set(c, d.slice());
  });
  clusters.clear();
  for (const [c, d] of loaded) clusters.set(c, d);
}
