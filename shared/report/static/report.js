/* Draws the report's figures (inlined into report.html by shared/report/html.py): each one
 * when it scrolls near the viewport, from the JSON block #report-figures. */
(function () {
  var figures = JSON.parse(document.getElementById("report-figures").textContent);
  function draw(el) {
    var fig = figures[el.getAttribute("data-figure")];
    if (!fig || el.getAttribute("data-drawn")) { return; }
    el.setAttribute("data-drawn", "1");
    Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false});
  }
  var boxes = document.querySelectorAll("[data-figure]");
  if ("IntersectionObserver" in window) {
    var seen = new IntersectionObserver(function (entries) {
      entries.forEach(function (e) { if (e.isIntersecting) { draw(e.target); } });
    }, {rootMargin: "400px"});
    boxes.forEach(function (el) { seen.observe(el); });
  } else {
    boxes.forEach(draw);
  }
})();
