// The dashboard's entry: renders the app into the page (src/ui/app/index.html).
import { render } from 'preact';
import { App } from './components/app.js';
import './style.css';

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  render(<App />, root);
}
