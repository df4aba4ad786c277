#!/usr/bin/env node
import { isCredentialsBody } from '../server/container-credentials.js';
import { askDaemonSocket, isTokenBody } from './ask-daemon-socket.js';
import { credentialProcessOptions, processCredentialsLine } from './credential-process.js';
import { statusPromptOutput } from './status-prompt.js';
import { tokenLine, tokenOptions } from './token.js';

// The bin (package.json): this file and what it imports, bundled by the build into one
// CommonJS file, bin.cjs (scripts/bundle.mjs). Other tools run three commands many times a
// day: credential-process for every new AWS client, token in scripts, status --prompt at
// every shell prompt. With the daemon running, they are answered here, before any of the CLI's
// bundle loads. Every other command, and these three whenever they need more than the
// daemon's answer (no daemon, an error to report, --help, options to reject), is the CLI
// bundle's (run-main.ts), which runs the whole command as if this file had not looked.

void answer(process.argv.slice(2)).then(async (answered) => {
  if (answered === undefined) {
    // Loaded on use: the three commands above never need it. (__filename: the bin runs only
    // as the build's CommonJS bundle, bin.cjs.)
    (await import('./run-main.js')).runMain(process.argv.slice(2), __filename);
    return;
  }
  process.stdout.write(answered.text);
  process.exitCode = answered.exit;
});

interface Answer {
  readonly text: string;
  readonly exit: number;
}

/** What these commands print, or undefined when the whole command must run. */
async function answer(argv: readonly string[]): Promise<Answer | undefined> {
  const [name, ...args] = argv;
  if (args.includes('--help') || args.includes('-h')) return undefined;
  try {
    switch (name) {
      case 'token': {
        const options = tokenOptions(args);
        const tokens = await askDaemonSocket(options, 'token', isTokenBody);
        return tokens && { text: tokenLine(options, tokens), exit: 0 };
      }
      case 'credential-process': {
        const options = credentialProcessOptions(args);
        const credentials = await askDaemonSocket(options, 'credentials', isCredentialsBody);
        return credentials && { text: processCredentialsLine(credentials), exit: 0 };
      }
      case 'status':
        return args.includes('--prompt') ? statusPromptOutput(args) : undefined;
      default:
        return undefined;
    }
  } catch {
    // A bad option, or anything else: the whole command reports it as it always does.
    return undefined;
  }
}
