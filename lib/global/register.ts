// Preload for applications that never import stallguard:
//   node --import stallguard/register app.js
//   NODE_OPTIONS=--require=stallguard/register node app.js
// Installs the global override (see install.ts) configured by STALLGUARD_*
// env vars. STALLGUARD_DISABLE=1 makes it a no-op; a bad value throws here,
// which stops the process before the application starts.
import { install } from './install'

// install() reads the environment itself: explicit options would only repeat it.
install()
