/* Building the page safely: data-derived strings only ever reach the DOM through textContent
 * (never innerHTML); strings handed to Plotly are escaped with esc(). */

export const $ = (id) => document.getElementById(id);

/** Build an element; strings in children become text nodes (never parsed as HTML). */
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'className') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key === 'style') Object.assign(node.style, value);
      else if (key === 'vars') for (const [v, x] of Object.entries(value)) node.style.setProperty(v, x);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace a node's children, skipping null/false (replaceChildren would print "null"). */
export function setChildren(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** Escape a string for Plotly text (which understands a few HTML tags and entities). */
export function esc(value) {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A chart area that shows a sentence instead of a chart. */
export function placeholder(div, text) {
  if (window.Plotly) Plotly.purge(div);
  setChildren(div, el('div', { className: 'placeholder', text }));
}
