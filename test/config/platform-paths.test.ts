import t from 'tap';
import { platformPaths } from '../../src/config/platform-paths.js';

t.test('Linux follows XDG, falling back to ~/.config and ~/.local/state', async (t) => {
  t.same(platformPaths({ platform: 'linux', env: {}, home: '/home/a' }), {
    configFile: '/home/a/.config/cognito-broker/config.json',
    stateDir: '/home/a/.local/state/cognito-broker',
  });
  t.same(platformPaths({ platform: 'linux', env: { XDG_CONFIG_HOME: '/x', XDG_STATE_HOME: '/s' }, home: '/home/a' }), {
    configFile: '/x/cognito-broker/config.json',
    stateDir: '/s/cognito-broker',
  });
  t.equal(platformPaths({ platform: 'linux', env: { XDG_CONFIG_HOME: '' }, home: '/h' }).configFile, '/h/.config/cognito-broker/config.json', 'empty counts as unset');
});

t.test('macOS uses Application Support; Windows APPDATA and LOCALAPPDATA', async (t) => {
  t.equal(platformPaths({ platform: 'darwin', env: {}, home: '/Users/a' }).configFile, '/Users/a/Library/Application Support/cognito-broker/config.json');
  const win = platformPaths({ platform: 'win32', env: { APPDATA: 'C:/R', LOCALAPPDATA: 'C:/L' }, home: 'C:/U' });
  t.match(win.configFile, /^C:\/R.cognito-broker.config\.json$/);
  t.match(win.stateDir, /^C:\/L.cognito-broker$/);
});
