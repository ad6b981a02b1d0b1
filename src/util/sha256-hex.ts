/** SHA-256 in lower-case hex with WebCrypto (the browser, a worker, Node 20): no Node APIs. */
export async function sha256Hex(data: Uint8Array | ArrayBuffer): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}
