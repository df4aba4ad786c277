// Preloaded (NODE_OPTIONS --import) into the cognito-local child by fault-stack.ts, so the
// user pool's clock follows the test's clock: the token times it issues (iat, exp) are
// then on the same clock as the broker and the identity-pool emulator. The test writes
// the current time, epoch milliseconds, to the file named by COGNITO_BROKER_FAULT_CLOCK_FILE
// before every user-pool request; while the file is missing or empty, real time is used.
import { readFileSync } from 'node:fs';

const file = process.env.COGNITO_BROKER_FAULT_CLOCK_FILE;
if (file) {
  const RealDate = Date;
  const now = () => {
    try {
      const value = Number(readFileSync(file, 'utf8'));
      return Number.isFinite(value) && value > 0 ? value : RealDate.now();
    } catch {
      return RealDate.now();
    }
  };
  class FollowingDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(now());
      else super(...args);
    }
    static now() {
      return now();
    }
  }
  globalThis.Date = FollowingDate;
}
