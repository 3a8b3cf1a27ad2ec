/// The gallery's styles: a plain light page, progress bars coloured by job state, a grid of thumbnails.
enum WebStyles {
    static let css = #"""
:root { --ok: #2e9d57; --bad: #c8423a; --run: #2f7bd6; --queued: #c9ced6; --canceled: #8a8f98; --ink: #1d232b; --line: #dde1e7; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f6f7f9; }
header { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; font-size: 1.1rem; color: var(--ink); text-decoration: none; }
header nav a { margin-right: .8rem; color: var(--run); text-decoration: none; }
header nav a.current { font-weight: 600; text-decoration: underline; }
#token-form { display: flex; gap: .4rem; align-items: center; margin-left: auto; }
#token-form input { width: 18rem; }
#token-state { margin-left: auto; color: #555; }
#notice { margin: .8rem 1.2rem 0; padding: .5rem .8rem; border-radius: 4px; background: #fff4e5; border: 1px solid #f0c27b; }
#notice.error { background: #fdecea; border-color: #e7a29c; }
main { padding: 1rem 1.2rem 2rem; max-width: 1200px; }
footer { padding: 0 1.2rem 1.5rem; color: #666; font-size: .85rem; }
h1 { font-size: 1.3rem; margin: .2rem 0 .8rem; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; background: #fafbfc; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.progress { display: flex; width: 100%; min-width: 10rem; height: .9rem; border-radius: .45rem; overflow: hidden; background: var(--queued); }
.progress span { display: block; height: 100%; }
.progress .seg-succeeded { background: var(--ok); }
.progress .seg-failed { background: var(--bad); }
.progress .seg-running { background: var(--run); }
.progress .seg-canceled { background: var(--canceled); }
.counts { font-size: .85rem; color: #555; margin-top: .2rem; }
.summary { display: flex; flex-wrap: wrap; gap: .4rem 1.5rem; margin: .6rem 0 1rem; }
.summary div { min-width: 8rem; }
.summary b { display: block; font-size: .8rem; color: #666; font-weight: 500; }
.toolbar { display: flex; flex-wrap: wrap; gap: .6rem; align-items: center; margin: .6rem 0; }
button { font: inherit; padding: .3rem .8rem; border: 1px solid #aab2bd; border-radius: 4px; background: #fff; cursor: pointer; }
button:disabled { opacity: .5; cursor: default; }
button.danger { border-color: var(--bad); color: var(--bad); }
button.primary { background: var(--run); border-color: var(--run); color: #fff; }
#gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: .8rem; }
.job-card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: .5rem; display: flex; flex-direction: column; gap: .3rem; }
.job-card .frame { aspect-ratio: 1; display: flex; align-items: center; justify-content: center; background: #eef0f3; border-radius: 4px; overflow: hidden; }
.job-card img.thumb { width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated; }
.job-card .placeholder { color: #777; font-size: .85rem; text-transform: uppercase; letter-spacing: .05em; }
.job-card .prompt { font-weight: 500; overflow-wrap: anywhere; }
.job-card .meta, .job-card .timings { font-size: .8rem; color: #555; }
.job-card[data-state="failed"] { border-color: var(--bad); }
.job-error { font-size: .8rem; color: var(--bad); margin: 0; padding-left: 1rem; overflow-wrap: anywhere; }
form.submit { display: grid; gap: .7rem; max-width: 48rem; }
form.submit label { display: grid; gap: .2rem; font-weight: 500; }
form.submit textarea { min-height: 12rem; font: 13px/1.4 ui-monospace, Menlo, Consolas, monospace; }
form.submit .row { display: flex; flex-wrap: wrap; gap: .8rem; }
form.submit .row label { flex: 1 1 8rem; }
input, textarea, select { font: inherit; padding: .3rem .4rem; border: 1px solid #aab2bd; border-radius: 4px; }
#submit-errors { color: var(--bad); }
#submit-errors li { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85rem; }
.muted { color: #777; }
"""#
}
