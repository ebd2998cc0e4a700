// One invocation as the Azure Node.js worker runs it: the library's programming model builds the context
// and inputs from the invocation request, preInvocation hooks, the handler, postInvocation hooks, then the
// model turns the result into the response (HTTP response data, or a return value).
import type {
  AzureCore,
  InvocationResponse,
  LogCategory,
  LogLevel,
  RegisteredFunction,
  TypedData,
} from './core-api.js';

/** The worker protocol's invocation request, as far as Nimbus fills it. */
export interface InvocationRequest {
  invocationId: string;
  /** The trigger's input under its binding name. */
  inputData: { name: string; data: TypedData }[];
  triggerMetadata?: Record<string, TypedData>;
  retryContext?: { retryCount: number; maxRetryCount: number };
}

/** Runs `fn` for `request`; resolves with the model's response, rejects with what the handler threw. */
export async function invokeFunction(
  core: AzureCore,
  fn: RegisteredFunction,
  request: InvocationRequest,
): Promise<InvocationResponse> {
  const model = core.programmingModel;
  if (!model)
    throw new Error(
      'the app registered functions without a programming model (use the @azure/functions package)',
    );
  const { invocationId } = request;
  const coreContext = {
    invocationId,
    request: { ...request, functionId: fn.metadata.name },
    metadata: {
      name: fn.metadata.name,
      bindings: fn.metadata.bindings,
      retryOptions: fn.metadata.retryOptions,
    },
    state: undefined as string | undefined,
    log: (level: LogLevel, category: LogCategory, message: string) =>
      core.log(level, category, message, invocationId),
  };
  const invocation = await model.getInvocationModel(coreContext);
  const { context, inputs: initialInputs } = await invocation.getArguments();
  core.contexts.set(invocationId, context);
  try {
    const hookData: Record<string, unknown> = {};
    const pre: Record<string, unknown> = {
      hookData,
      appHookData: core.appHookData,
      invocationContext: context,
      inputs: initialInputs,
      functionCallback: fn.callback,
    };
    coreContext.state = 'preInvocationHooks';
    try {
      for (const hook of core.hooks('preInvocation')) await hook(pre);
    } finally {
      coreContext.state = undefined;
    }
    const inputs = pre.inputs as unknown[];
    const callback = pre.functionCallback as RegisteredFunction['callback'];
    const post: Record<string, unknown> = {
      hookData,
      appHookData: core.appHookData,
      invocationContext: context,
      inputs,
      result: null,
      error: null,
    };
    coreContext.state = 'invocation';
    try {
      post.result = await invocation.invokeFunction(context, inputs, callback);
    } catch (err) {
      post.error = err ?? new Error('the function threw a null or undefined value');
    } finally {
      coreContext.state = undefined;
    }
    coreContext.state = 'postInvocationHooks';
    try {
      for (const hook of core.hooks('postInvocation')) await hook(post);
    } finally {
      coreContext.state = undefined;
    }
    if (post.error !== null && post.error !== undefined) throw post.error;
    return await invocation.getResponse(context, post.result);
  } finally {
    core.contexts.delete(invocationId);
  }
}

/** Runs the appStart hooks (once, after the app's files loaded). */
export async function runAppStartHooks(core: AzureCore, functionAppDirectory: string): Promise<void> {
  const context = { hookData: core.appLevelHookData, appHookData: core.appHookData, functionAppDirectory };
  for (const hook of core.hooks('appStart')) await hook(context);
}
