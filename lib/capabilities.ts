// The public capabilities(): what the kernel layer can do here, and how
// install() reaches sockets process-wide on this Node.
import { processHooks, activeScope, type ProcessHooks } from './global/process-hooks'
import { capabilities as kernelCapabilities, type Capabilities as KernelCapabilities } from './kernel/socket-timeouts'

export interface Capabilities extends KernelCapabilities {
  /** How install() reaches clients it did not build, for the active install's scope ('http' when none). */
  processHooks: ProcessHooks
}

export function capabilities(): Capabilities {
  return { ...kernelCapabilities(), processHooks: processHooks(activeScope()) }
}
