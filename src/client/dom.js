// @ts-check
// Small DOM helpers shared by the UI modules: element creation without
// innerHTML, page focus management, and screen-reader announcements.

/**
 * @typedef {Node | string | number | null | undefined | false} Child
 * @typedef {{[key: string]: any}} Attrs
 */

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on` (event listeners),
 * `dataset`, properties that exist on the element (`value`, `hidden`, …),
 * and any other key as an attribute (`aria-*`, `role`, `for`, …). A value of
 * `null`, `undefined` or `false` leaves an attribute out.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = String(value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'on') {
      for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    } else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('aria-') || key === 'role' || key === 'for' || !(key in el)) {
      el.setAttribute(key, value === true ? '' : String(value));
    } else {
      /** @type {any} */ (el)[key] = value;
    }
  }
  append(el, children);
  return el;
}

/**
 * Appends children, skipping `null`, `undefined` and `false`.
 * @param {Element} el
 * @param {(Child | Child[])[]} children
 */
export function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

/**
 * An inline SVG icon from the sprite-free set below, hidden from assistive
 * technology (buttons carry their own text).
 * @param {keyof typeof ICONS} name
 * @returns {SVGSVGElement}
 */
export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  svg.classList.add('icon');
  for (const d of ICONS[name]) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** Stroke paths, 24×24, drawn with `stroke: currentColor` in style.css. */
export const ICONS = {
  mic: ['M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z', 'M5 11a7 7 0 0 0 14 0', 'M12 18v3'],
  micOff: ['M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z', 'M5 11a7 7 0 0 0 14 0', 'M12 18v3', 'M3 3l18 18'],
  camera: ['M3 7h12v10H3z', 'M15 10l6-3v10l-6-3'],
  cameraOff: ['M3 7h12v10H3z', 'M15 10l6-3v10l-6-3', 'M2 3l20 18'],
  screen: ['M3 4h18v12H3z', 'M8 20h8', 'M12 16v4'],
  hand: ['M7 12V6a1.5 1.5 0 0 1 3 0v5', 'M10 11V4a1.5 1.5 0 0 1 3 0v7', 'M13 11V5a1.5 1.5 0 0 1 3 0v7',
    'M16 12V8a1.5 1.5 0 0 1 3 0v6a7 7 0 0 1-7 7h-1a6 6 0 0 1-5-3l-2.5-4a1.5 1.5 0 0 1 2.5-1.7L7 14'],
  chat: ['M4 5h16v11H9l-5 4z'],
  people: ['M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z', 'M2 20a7 7 0 0 1 14 0', 'M16 4a3.5 3.5 0 0 1 0 7', 'M18 14a6 6 0 0 1 4 6'],
  grid: ['M4 4h7v7H4z', 'M13 4h7v7h-7z', 'M4 13h7v7H4z', 'M13 13h7v7h-7z'],
  speaker: ['M3 4h18v11H3z', 'M3 18h5v2H3z', 'M10 18h5v2h-5z', 'M17 18h4v2h-4z'],
  help: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M9.5 9a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .9-1 1.6V14', 'M12 17.5v.5'],
  leave: ['M14 4h5v16h-5', 'M10 8l-4 4 4 4', 'M6 12h10'],
  pin: ['M9 3h6l-1 6 4 4H6l4-4z', 'M12 13v8'],
  signal: ['M4 20v-3', 'M9 20v-7', 'M14 20v-11', 'M19 20V5'],
  close: ['M5 5l14 14', 'M19 5L5 19'],
  dice: ['M4 4h16v16H4z', 'M8.5 8.5h.01', 'M15.5 15.5h.01', 'M12 12h.01'],
  lock: ['M6 11h12v9H6z', 'M8.5 11V8a3.5 3.5 0 0 1 7 0v3'],
  key: ['M8 15a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M11.5 11H21', 'M18 11v3', 'M21 11v2'],
  link: ['M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1', 'M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1'],
  server: ['M5 4h14v6H5z', 'M5 14h14v6H5z', 'M8 7h.01', 'M8 17h.01'],
  door: ['M5 21V4h10v17', 'M15 6h4v15', 'M3 21h18', 'M12 12.5v.5'],
  more: ['M12 6h.01', 'M12 12h.01', 'M12 18h.01'],
  user: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21a8 8 0 0 1 16 0'],
  volume: ['M4 9h4l5-4v14l-5-4H4z', 'M16 9a4 4 0 0 1 0 6', 'M18.5 6.5a8 8 0 0 1 0 11'],
  clock: ['M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18z', 'M12 7v5l3 2'],
};

/**
 * Replaces the page's content, sets the document title, and moves focus to
 * the page's main heading so screen readers announce the new page.
 * @param {HTMLElement} root
 * @param {string} title
 * @param {(Child | Child[])[]} children
 */
export function showPage(root, title, ...children) {
  root.replaceChildren();
  append(root, children);
  document.title = title;
  const heading = root.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

/**
 * Says `text` through the polite (or assertive) live region.
 * @param {string} text
 * @param {'polite' | 'assertive'} [urgency]
 */
export function announce(text, urgency = 'polite') {
  const region = document.getElementById(urgency === 'assertive' ? 'announce-assertive' : 'announce-polite');
  if (!region) return;
  // A fresh child node makes screen readers read repeated identical texts.
  const line = document.createElement('p');
  line.textContent = text;
  region.append(line);
  while (region.childElementCount > 5) region.firstElementChild?.remove();
}

/**
 * True when a key press belongs to a text field, not to a shortcut.
 * @param {EventTarget | null} target
 */
export function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !['button', 'checkbox', 'radio', 'submit', 'reset', 'range', 'color', 'file'].includes(target.type);
  }
  return false;
}

/**
 * The head of a side panel: its heading (focusable, so opening the panel
 * can move focus there) and a close button.
 * @param {HTMLElement} heading
 * @param {string} closeLabel accessible name of the close button
 * @param {() => void} close
 */
export function panelHead(heading, closeLabel, close) {
  return h('div', { class: 'panel-head' }, heading,
    h('button', { type: 'button', class: 'icon-button', 'aria-label': closeLabel, on: { click: close } }, icon('close')));
}
