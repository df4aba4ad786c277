import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls an endpoint route with the auth token until it answers `wanted` (and `check` accepts
 * the body), or the time is up; resolves with the last status seen. A daemon just started
 * may answer 503 BRK_ERR_CREDENTIALS_PENDING while its first refresh runs, as SDKs retry.
 */
export async function waitForStatus(url: string, token: string, wanted = 200, check: (body: string) => boolean = () => true, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let status = 0;
  while (Date.now() < deadline) {
    const response = await fetch(url, { headers: { authorization: token } });
    status = response.status;
    if (status === wanted && check(await response.text())) return status;
    await sleep(200);
  }
  return status;
}
