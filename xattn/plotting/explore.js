// The attention explorer's script (xattn.plotting.explore): no framework, nothing
// fetched. `root` is the explorer's <div>; its data is the JSON block inside it.
var data = JSON.parse(root.querySelector(".xe-data").textContent);
var layerSelect = root.querySelector(".xe-layer");
var headSelect = root.querySelector(".xe-head");
var queries = root.querySelectorAll(".xe-q");
var keys = root.querySelectorAll(".xe-k");
var caption = root.querySelector(".xe-caption");
var maxLabel = root.querySelector(".xe-max");
var state = { layer: data.start.layer, head: data.start.head, query: 0 };
var cache = {};
var spotlight = data.layout !== "tokens";

function label(token) {
  return token.trim() ? token : "\u2423";  // a space shows as the open-box symbol
}

function view() {
  // The (Lq, Lk) weights of the chosen layer and head, or the mean over heads.
  var id = state.layer + ":" + state.head;
  if (cache[id]) return cache[id];
  var heads = data.weights[state.layer];
  var chosen = state.head === null ? heads : [heads[state.head]];
  var out = [], top = 0;
  for (var q = 0; q < data.queries.length; q++) {
    var row = [];
    for (var k = 0; k < data.keys.length; k++) {
      var sum = 0;
      for (var h = 0; h < chosen.length; h++) sum += chosen[h][q][k];
      var w = sum / chosen.length / data.scale;
      row.push(w);
      if (w > top) top = w;
    }
    out.push(row);
  }
  cache[id] = { rows: out, top: top };
  return cache[id];
}

function draw() {
  var v = view(), row = v.rows[state.query];
  var truth = data.truth ? data.truth[state.query] : [];
  var order = row.map(function (w, k) { return k; });
  order.sort(function (a, b) { return row[b] - row[a] || a - b; });
  var rank = {};
  order.slice(0, 3).forEach(function (k, i) { rank[k] = i + 1; });
  for (var k = 0; k < keys.length; k++) {
    var share = v.top > 0 ? Math.min(1, row[k] / v.top) : 0;
    var cell = keys[k];
    if (spotlight) {
      // Over an image or a spectrogram: the keys read least are darkened.
      cell.style.background = "rgba(0,0,0," + (0.8 * (1 - share)).toFixed(3) + ")";
    } else {
      cell.style.background = "rgba(33,102,172," + (0.9 * share).toFixed(3) + ")";
      cell.style.color = 0.9 * share > 0.55 ? "#fff" : "#111";
    }
    cell.title = label(data.keys[k]) + ": " + row[k].toFixed(3);
    cell.classList.toggle("xe-true", truth.indexOf(k) >= 0);
    cell.classList.toggle("xe-top", k in rank);
    if (k in rank) cell.setAttribute("data-rank", rank[k]);
    else cell.removeAttribute("data-rank");
  }
  for (var q = 0; q < queries.length; q++) {
    queries[q].classList.toggle("xe-on", q === state.query);
  }
  caption.textContent = label(data.queries[state.query]) + " reads most: " +
    order.slice(0, 3).map(function (k) {
      return label(data.keys[k]) + " " + row[k].toFixed(3);
    }).join(", ");
  maxLabel.textContent = v.top.toFixed(3);
  root.setAttribute("data-query", state.query);
  root.setAttribute("data-layer", state.layer);
  root.setAttribute("data-head", state.head === null ? "mean" : state.head);
}

Array.prototype.forEach.call(queries, function (button, q) {
  function pick() { state.query = q; draw(); }
  button.addEventListener("mouseenter", pick);
  button.addEventListener("focus", pick);
  button.addEventListener("click", pick);
});
layerSelect.addEventListener("change", function () {
  state.layer = Number(layerSelect.value); draw();
});
headSelect.addEventListener("change", function () {
  state.head = headSelect.value === "mean" ? null : Number(headSelect.value); draw();
});
draw();
root.setAttribute("data-ready", "1");
