// vite.config.js — builds the chat page (sources in chat/) into dist/, the folder lighttpd serves
// as its document root next to the hubs under /Hubs/.
//
//   npm ci && npm run build          # or scripts/build-demo-page.sh
//   npm run dev                      # dev server on :5173, /Hubs/ proxied to $SIGNALR_URL
//
// base './': the built page loads its assets by relative paths, so it also works from a
// sub-folder of a site; the hubs are always addressed as /Hubs/... on the page's own origin.
// VITE_DEMO_TOKENS=1 at build time shows the access-token box (see chat/src/config.js).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import vue from "@vitejs/plugin-vue";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
    root: here("./chat"),
    base: "./",
    plugins: [vue()],
    build: {
        outDir: here("./dist"),
        emptyOutDir: true,
        target: "es2020",
        // no source maps in the served folder; one small bundle is enough for this page
        sourcemap: false,
        chunkSizeWarningLimit: 400,
        rollupOptions: {
            onwarn(warning, warn) {
                // @microsoft/signalr's ESM build has /*#__PURE__*/ comments in places Rollup
                // ignores; harmless, and not ours to fix
                if (warning.code === "INVALID_ANNOTATION" && /@microsoft[\\/]signalr/.test(warning.id ?? "")) return;
                warn(warning);
            },
        },
    },
    server: {
        proxy: {
            "/Hubs/": {
                target: process.env.SIGNALR_URL ?? "http://127.0.0.1:8080",
                changeOrigin: false,
            },
        },
    },
});
