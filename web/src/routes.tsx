import { createBrowserRouter } from 'react-router';
import { Layout } from './views/Layout';
import { SignIn } from './views/SignIn';
import { BotsList } from './views/BotsList';
import { RouteError } from './views/RouteError';

// The first page (sign-in, bots list) is in the main bundle; every other view is its own chunk.
const lazy = (load: () => Promise<{ default: React.ComponentType }>) => async () => ({ Component: (await load()).default });

export const router = createBrowserRouter([
  { path: '/signin', Component: SignIn },
  {
    path: '/',
    Component: Layout,
    ErrorBoundary: RouteError,
    children: [
      { index: true, Component: BotsList },
      { path: 'bots/:botId/*', lazy: lazy(() => import('./views/BotPage')) },
      { path: 'prompts', lazy: lazy(() => import('./views/Prompts')) },
      { path: 'connections', lazy: lazy(() => import('./views/Connections')) },
      { path: 'files', lazy: lazy(() => import('./views/Files')) },
      { path: 'logs', lazy: lazy(() => import('./views/Logs')) },
      { path: 'account', lazy: lazy(() => import('./views/Account')) },
      { path: 'team/*', lazy: lazy(() => import('./views/Team')) },
      { path: 'invite/:token', lazy: lazy(() => import('./views/Invite')) },
      { path: '*', Component: () => <p>Page not found. <a href="/">Back to your bots</a></p> },
    ],
  },
]);
