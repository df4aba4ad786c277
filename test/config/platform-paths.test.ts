import t from 'tap';
import { cacheDir, platformPaths } from '../../src/config/platform-paths.js';

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

t.test('the cache directory: XDG_CACHE_HOME or ~/.cache, ~/Library/Caches, LOCALAPPDATA', async (t) => {
  t.equal(cacheDir({ platform: 'linux', env: {}, home: '/home/a' }), '/home/a/.cache/cognito-broker');
  t.equal(cacheDir({ platform: 'linux', env: { XDG_CACHE_HOME: '/c' }, home: '/home/a' }), '/c/cognito-broker');
  t.equal(cacheDir({ platform: 'linux', env: { XDG_CACHE_HOME: '' }, home: '/h' }), '/h/.cache/cognito-broker', 'empty counts as unset');
  t.equal(cacheDir({ platform: 'darwin', env: {}, home: '/Users/a' }), '/Users/a/Library/Caches/cognito-broker');
  t.match(cacheDir({ platform: 'win32', env: { LOCALAPPDATA: 'C:/L' }, home: 'C:/U' }), /^C:\/L.cognito-broker.cache$/);
});
