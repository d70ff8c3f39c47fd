// Preload for applications that never import stallguard:
//   node --import stallguard/register app.js
//   NODE_OPTIONS=--require=stallguard/register node app.js
// Installs the global override (see install.ts) configured by STALLGUARD_*
// env vars. STALLGUARD_DISABLE=1 makes it a no-op (with one warning naming
// the variables it ignored), whatever else is set.
//
// Exit status: a STALLGUARD_* value or name that cannot be understood stops
// the process before the application starts, with one paragraph on stderr
// (the variable, its value, what is accepted, the fix) and exit code 78
// (CONFIG_EXIT_CODE, EX_CONFIG from sysexits.h). Any other failure is thrown
// as is.
import { install } from './install'
import { CONFIG_EXIT_CODE, describeStartupError } from './startup-error'

try {
  // install() reads the environment itself: explicit options would only repeat it.
  install()
} catch (err) {
  const paragraph = describeStartupError(err)
  if (paragraph === undefined) throw err
  process.stderr.write(paragraph)
  process.exit(CONFIG_EXIT_CODE)
}
