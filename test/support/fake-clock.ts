export { FakeClock, settle } from '../../scripts/fake-clock.js';
