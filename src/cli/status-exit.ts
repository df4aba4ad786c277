/** `status`'s exit codes (docs/commands.md, status), shared by `status --prompt`, which loads nothing else. */
export const STATUS_EXIT = { ready: 0, loginNeeded: 3, daemonNotRunning: 4, notReady: 5 } as const;
