/* First paint in the reader's colour scheme (both editions).
 *
 * The theme's head script sets <html data-theme> to the reader's saved choice, or to "auto"
 * on a first visit. Its stylesheet has rules for "light" and "dark" only, and the script that
 * turns "auto" into one of them is deferred: it runs after the first paint. Until then the page
 * has no theme colours, and elements with a colour transition (the search field, the language
 * switch) then fade for 0.15 s from unthemed black to the dark theme's grey: black on dark, which
 * a reader sees as a flash and axe-core reports as color-contrast on a machine that scans during
 * the fade. This file is loaded without defer in <head>, so "auto" is resolved here, before the
 * body is painted; the theme's own script later sets the same value, which changes nothing.
 */
(() => {
  const root = document.documentElement;
  if (root.dataset.theme === "light" || root.dataset.theme === "dark") return;
  root.dataset.theme = window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
})();
