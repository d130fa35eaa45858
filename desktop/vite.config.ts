import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// The WebView loads the built files from the app itself (no remote content); in development,
// `npm run dev` serves them on the port tauri.conf.json's devUrl names.
export default defineConfig({
  plugins: [react()],
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "safari15", outDir: "dist", emptyOutDir: true, sourcemap: false },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["src/test/setup.ts"],
  },
});
