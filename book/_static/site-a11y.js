/* Accessible names for the folding toggles (both editions).
 *
 * MyST-NB's folded code cells (<summary aria-label="Toggle hidden content">Show code cell
 * source</summary>) and sphinx-togglebutton's solution dropdowns (a button with the same
 * aria-label and a visible "Click to show") give screen readers a name that does not contain
 * the words on the screen: axe-core's rule label-content-name-mismatch (serious). A summary's
 * name then comes from its visible text, which already says what it does. A dropdown's button
 * shows its hint through CSS only, so it is named "<solution title>: <hint>" and renamed when
 * the hint changes (Click to show / Click to hide). togglebutton adds its buttons when the DOM
 * is ready, so this runs after it.
 */
(() => {
  const fix = () => {
    document
      .querySelectorAll('summary[aria-label="Toggle hidden content"]')
      .forEach((el) => el.removeAttribute("aria-label"));
    document.querySelectorAll(".toggle-button[data-toggle-hint]").forEach((button) => {
      if (button.dataset.a11y) return;
      button.dataset.a11y = "1";
      const title = button.closest(".admonition-title");
      const name = title ? title.textContent.trim() : "";
      const rename = () =>
        button.setAttribute("aria-label", name ? `${name}: ${button.dataset.toggleHint}` : button.dataset.toggleHint);
      rename();
      new MutationObserver(rename).observe(button, { attributeFilter: ["data-toggle-hint"] });
    });
  };
  if (document.readyState === "complete") fix();
  else window.addEventListener("load", fix);
  document.addEventListener("DOMContentLoaded", () => setTimeout(fix, 0));
})();
