// Sort every table.sortable by the column whose header button is clicked: numbers by
// their data-sort value (missing values last in both directions), text by its content;
// a second click reverses. Ties keep the run's original order.
(function () {
  "use strict";
  function value(row, index) {
    var cell = row.cells[index];
    return cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
  }
  function sortBy(table, header, index) {
    var body = table.tBodies[0];
    var numeric = header.getAttribute("data-type") === "number";
    var direction = header.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, index), y = value(b, index), order = 0;
      if (numeric) {
        var hasX = x !== "" && !isNaN(parseFloat(x)), hasY = y !== "" && !isNaN(parseFloat(y));
        if (hasX !== hasY) { return hasX ? -1 : 1; }  // missing figures sink to the bottom
        order = hasX ? direction * (parseFloat(x) - parseFloat(y)) : 0;
      } else {
        order = direction * x.localeCompare(y, undefined, {numeric: true});
      }
      return order || (Number(a.getAttribute("data-index")) - Number(b.getAttribute("data-index")));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.setAttribute("aria-sort", "none");
    });
    header.setAttribute("aria-sort", direction === 1 ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      var button = header.querySelector("button");
      if (button) {
        button.addEventListener("click", function () { sortBy(table, header, index); });
      }
    });
  });
})();
