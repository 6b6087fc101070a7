// The report page's own CSS and JS: constants, inlined and allowed by hash in the page's CSP.

export const REPORT_CSS = `
:root{--handled:#1a7f37;--blocked:#b7791f;--silent:#8250df;--crashed:#cf222e;--hung:#9a3412;--error:#57606a;--skipped:#8c959f;
--bg:#fff;--fg:#1f2328;--muted:#656d76;--line:#d0d7de;--hl:#ffebe9}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1200px;padding:16px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
h3{font-size:14px;margin:12px 0 4px}
.meta{color:var(--muted);margin:0}.meta code{color:var(--fg)}
code,pre,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px}
.banner{padding:12px 16px;margin:12px 0;border-radius:6px;font-weight:600;border:2px solid}
.banner.untrusted{background:#ffebe9;border-color:var(--crashed);color:#82071e;font-size:16px}
.banner.incomplete{background:#fff8c5;border-color:var(--blocked);color:#7d4e00}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px;min-width:64px;text-align:center}
.v-handled{background:var(--handled)}.v-blocked{background:var(--blocked)}.v-silent{background:var(--silent)}
.v-crashed{background:var(--crashed)}.v-hung{background:var(--hung)}.v-error{background:var(--error)}.v-skipped{background:var(--skipped)}
table{border-collapse:collapse;margin:4px 0}th,td{border:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.unplug-map td[class^="b-"]{font-weight:600}.unplug-map td a{color:inherit}
.b-revokes{background:#dafbe1;color:#116329}.b-hangs-up{background:#d1f0ff;color:#0a4a7a}.b-refuses{background:#ddf4ff;color:#0550ae}
.b-waits{background:#fff1c2;color:#7d4e00}.b-numb{background:#fbefff;color:#6e40c9}.b-silent{background:#efe5ff;color:#512a97}
.b-crashes{background:#cf222e;color:#fff}.b-hangs{background:#9a3412;color:#fff}.b-error{background:#eaeef2;color:#57606a}
.b-skipped,.b-none{background:#f6f8fa;color:#8c959f}
.matrix text{font:12px system-ui,sans-serif}.matrix .cell{cursor:pointer}.matrix .cell text{fill:#fff;font-weight:600}
#filters{position:sticky;top:0;background:var(--bg);padding:8px 0;border-bottom:1px solid var(--line);z-index:1}
#filters label{margin-right:10px;white-space:nowrap}
details.case{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:0 10px}
details.case[open]{padding-bottom:10px}
details.case>summary{cursor:pointer;padding:6px 0;list-style-position:outside}
details.case>summary .id{font-weight:600}
.headline{color:var(--muted)}
[hidden]{display:none!important}
pre{background:#f6f8fa;border:1px solid var(--line);border-radius:6px;padding:8px;overflow-x:auto;margin:4px 0}
pre.console{max-height:480px;overflow:auto}
pre.console .ln{display:block;white-space:pre}
pre.console .ln.hl{background:var(--hl);box-shadow:inset 3px 0 0 var(--crashed)}
pre.console .no{color:var(--muted);display:inline-block;min-width:4em;user-select:none}
.ok{color:var(--handled)}.bad{color:var(--crashed)}
.timeline-svg text{font:10px system-ui,sans-serif;fill:var(--muted)}
footer{margin-top:24px;color:var(--muted);font-size:12px}
`;

// Filters: show a case when its verdict box is ticked and it matches the chosen subsystem and image.
// Clicking a matrix cell or a summary row selects its subsystem (and image).
export const REPORT_JS = `
(function () {
  'use strict';
  var form = document.getElementById('filters');
  if (!form) return;
  var cases = Array.prototype.slice.call(document.querySelectorAll('details.case'));
  var shown = document.getElementById('shown');
  function val(name) { var el = form.querySelector('select[name="' + name + '"]'); return el ? el.value : ''; }
  function apply() {
    var verdicts = {};
    Array.prototype.forEach.call(form.querySelectorAll('input[name="verdict"]'), function (i) { verdicts[i.value] = i.checked; });
    var sub = val('subsystem'), img = val('image'), n = 0;
    cases.forEach(function (c) {
      var show = verdicts[c.getAttribute('data-verdict')] === true &&
        (sub === '' || c.getAttribute('data-subsystem') === sub) &&
        (img === '' || c.getAttribute('data-image') === img);
      c.hidden = !show;
      if (show) n++;
    });
    if (shown) shown.textContent = String(n);
  }
  function pick(sub, img) {
    var s = form.querySelector('select[name="subsystem"]'), i = form.querySelector('select[name="image"]');
    if (s && sub !== null) s.value = sub;
    if (i && img !== null) i.value = img;
    apply();
    form.scrollIntoView();
  }
  form.addEventListener('change', apply);
  var reset = document.getElementById('reset-filters');
  if (reset) reset.addEventListener('click', function () {
    Array.prototype.forEach.call(form.querySelectorAll('input[name="verdict"]'), function (i) { i.checked = true; });
    pick('', '');
  });
  Array.prototype.forEach.call(document.querySelectorAll('[data-pick-subsystem]'), function (el) {
    el.addEventListener('click', function () { pick(el.getAttribute('data-pick-subsystem'), el.getAttribute('data-pick-image')); });
  });
  apply();
})();
`;
