import t from 'tap';
import { remoteSessionReason } from '../../src/cli/remote-session.js';

const desktop = { DISPLAY: ':0' };
const facts = (env: NodeJS.ProcessEnv, platform: NodeJS.Platform = 'linux', files: string[] = []) => ({ env, platform, exists: (path: string) => files.includes(path) });

t.test('an SSH session, WSL, or Linux with no display and no BROWSER sign in with a pasted address', async (t) => {
  t.match(remoteSessionReason(facts({ ...desktop, SSH_CONNECTION: '10.0.0.2 51234 10.0.0.1 22' })), /SSH session \(SSH_CONNECTION is set\)/);
  t.match(remoteSessionReason(facts({ SSH_CONNECTION: '10.0.0.2 51234 10.0.0.1 22' }, 'darwin')), /SSH session/, 'on macOS too');
  t.match(remoteSessionReason(facts({ ...desktop, WSL_DISTRO_NAME: 'Ubuntu' })), /WSL/);
  t.match(remoteSessionReason(facts(desktop, 'linux', ['/proc/sys/fs/binfmt_misc/WSLInterop'])), /WSL/, 'WSL found by its interop, without the variable (sudo, a service)');
  t.match(remoteSessionReason(facts({})), /no display \(neither DISPLAY nor WAYLAND_DISPLAY is set\)/);
});

t.test('a desktop, a BROWSER command, macOS or Windows wait on 127.0.0.1', async (t) => {
  t.equal(remoteSessionReason(facts(desktop)), undefined, 'X11');
  t.equal(remoteSessionReason(facts({ WAYLAND_DISPLAY: 'wayland-0' })), undefined, 'Wayland');
  t.equal(remoteSessionReason(facts({ BROWSER: '/usr/bin/w3m' })), undefined, 'no display, but a browser command xdg-open uses');
  t.equal(remoteSessionReason(facts({}, 'darwin')), undefined, 'macOS has no DISPLAY');
  t.equal(remoteSessionReason(facts({}, 'win32')), undefined, 'nor Windows');
  t.equal(remoteSessionReason(facts({ ...desktop, SSH_CONNECTION: '' })), undefined, 'an empty SSH_CONNECTION is not SSH');
});
