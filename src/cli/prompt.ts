import input from '@inquirer/input';
import password from '@inquirer/password';
import type { SignInQuestion } from '../cognito/sign-in.js';
import { NoTerminalError } from '../errors.js';

/** Never waits on a closed or piped stdin: without a terminal there is nobody to answer. */
function requireTerminal(what: string): void {
  if (!process.stdin.isTTY) throw new NoTerminalError(what);
}

export async function askUsername(): Promise<string> {
  requireTerminal('the username');
  return input({ message: 'Username:', required: true }, { output: process.stderr });
}

export async function askPassword(message = 'Password:'): Promise<string> {
  requireTerminal('the password');
  return password({ message, mask: '*' }, { output: process.stderr });
}

/** Answers the user pool's challenges at the terminal. */
export async function askChallenge(question: SignInQuestion): Promise<string> {
  if (question.kind === 'new-password') {
    requireTerminal('a new password');
    const first = await password({ message: 'The user pool requires a new password. New password:', mask: '*' }, { output: process.stderr });
    const again = await password({ message: 'New password again:', mask: '*', validate: (v) => v === first || 'The two passwords differ.' }, { output: process.stderr });
    return again;
  }
  requireTerminal('an MFA code');
  const where = question.method === 'SMS' ? `the code sent by SMS${question.destination ? ` to ${question.destination}` : ''}` : 'the code from your authenticator app';
  return input({ message: `Enter ${where}:`, required: true, validate: (v) => /^\d{6,8}$/.test(v.trim()) || 'A code is 6 to 8 digits.' }, { output: process.stderr }).then((v) => v.trim());
}
