document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a[data-airflow-ui]") : null;
  if (!link || window.top === window || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  try {
    const ui = window.top;
    const state = ui.history.state;
    const idx = state && typeof state.idx === "number" ? state.idx + 1 : 0;
    ui.history.pushState({ usr: null, key: Math.random().toString(36).slice(2, 10), idx }, "", link.href);
    ui.dispatchEvent(new PopStateEvent("popstate", { state: ui.history.state }));
    event.preventDefault();
  } catch (error) {
    // Framed by another origin: follow the link in the frame.
  }
});
