/// The web gallery, embedded in the binary: one page, its script and its styles (no CDN, no build step).
enum WebAssets {
    static let page = WebPage.html
    static let script = WebScript.javascript
    static let styles = WebStyles.css
    /// Three cells, -1 0 +1, for the tab.
    static let icon = #"""
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 30 30"><rect width="30" height="30" rx="5" fill="#1d232b"/><rect x="4" y="11" width="6" height="8" fill="#c8423a"/><rect x="12" y="11" width="6" height="8" fill="#8a8f98"/><rect x="20" y="11" width="6" height="8" fill="#2e9d57"/></svg>
"""#
}
