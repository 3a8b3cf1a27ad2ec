/// The gallery's one HTML page. Everything it shows is built by /assets/app.js from the /v1 API; the page
/// itself holds only the frame: the header with the token field, and the view the script fills in.
enum WebPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>TernFlux</title>
<link rel="stylesheet" href="/assets/app.css">
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
</head>
<body>
<header>
  <a class="brand" href="#/">TernFlux</a>
  <nav>
    <a id="nav-batches" href="#/">Batches</a>
    <a id="nav-submit" href="#/submit">Submit</a>
  </nav>
  <form id="token-form" hidden>
    <label for="token-input">API token</label>
    <input id="token-input" type="password" autocomplete="off" spellcheck="false" placeholder="paste a read or submit token">
    <button id="token-save" type="submit">Use token</button>
  </form>
  <span id="token-state" hidden>token set <button id="token-forget" type="button">forget</button></span>
</header>
<div id="notice" role="status" hidden></div>
<main id="view" aria-live="polite"></main>
<footer>API: <a href="/openapi.json">/openapi.json</a> · health: <a href="/healthz">/healthz</a></footer>
<script src="/assets/app.js"></script>
</body>
</html>
"""#
}
