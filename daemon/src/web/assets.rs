//! The pages' only asset: one small stylesheet, inlined in every page (no external
//! files, fonts or scripts, so a page is one request and works offline).

/// Status colours are classes named after the lower-cased status (`.critical`).
pub const CSS: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:14px/1.4 system-ui,sans-serif;color:#1d2430;background:#f4f5f7}\
header{background:#22303f;color:#fff;padding:.5em 1em;display:flex;gap:1em;align-items:baseline;flex-wrap:wrap}\
header a{color:#fff}h1{font-size:1.2em;margin:0}\
main{padding:.5em 1em 2em}h2{font-size:1.1em;margin:1.2em 0 .4em}h3{font-size:1em;margin:1em 0 .3em}\
a{color:#1f5fa8;text-decoration:none}a:hover{text-decoration:underline}\
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:.6em}\
td,th{padding:.2em .5em;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}\
th{font-weight:600;background:#eceff3}td.o{word-break:break-word}td.n{white-space:nowrap}\
.b{display:inline-block;min-width:6.5em;padding:0 .4em;border-radius:3px;font-size:.8em;font-weight:600;\
text-align:center;color:#fff;background:#888}\
.ok{background:#2e8540}.info{background:#3a7bd5}.pending{background:#8a939e}.warning{background:#e0a800;color:#222}\
.critical{background:#d9342b}.unknown{background:#c96a12}.timeout{background:#a3327a}.error{background:#8b1e3f}\
.disconnected{background:#5a4a8a}.action{background:#000}\
.m{display:inline-block;padding:0 .3em;margin-left:.2em;border:1px solid #aab;border-radius:3px;font-size:.75em;color:#445}\
.host{background:#fff;margin:.6em 0;padding:.3em .6em;border-left:4px solid #c6ccd4}\
.host h4{margin:.2em 0;font-size:1em}.host table{margin:0}.g td{color:#556;font-size:.85em;padding-top:.5em;background:#f7f8fa}\
.s{color:#667}pre{background:#fff;padding:.5em;white-space:pre-wrap;word-break:break-word;margin:.3em 0}\
svg{background:#fff;margin:.3em .6em .3em 0}svg text{font:11px sans-serif;fill:#445}\
svg .line{fill:none;stroke:#1f5fa8;stroke-width:1.5}svg .band{fill:#1f5fa8;fill-opacity:.15}\
svg .axis{stroke:#c6ccd4;fill:none}\
";
