// Starts Swagger UI on /docs (app/routes/api_docs.py). A file, not an inline script, so that the page runs
// under the service's Content-Security-Policy (script-src 'self').
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
