import './lib/marks';
import './app.css';
import { flushSync, mount } from 'svelte';
import App from './App.svelte';
import { applyTheme, storedTheme } from './lib/theme';

applyTheme(storedTheme());

const target = document.getElementById('app');
if (!target) throw new Error('#app missing from index.html');

const app = mount(App, { target });
// Its effects now, not in a later task: the first paint waits for the state index.html asked
// for (or, when it did not, asks now), so that its answer is not queued behind the page's first
// layout.
flushSync();

export default app;
