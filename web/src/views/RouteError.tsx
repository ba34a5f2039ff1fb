import { useRouteError } from 'react-router';
import { ErrorBox } from '../components/ui';

export function RouteError() {
  const err = useRouteError();
  return (
    <main>
      <h1>Something went wrong</h1>
      <ErrorBox error={err instanceof Error ? err : new Error('This page could not be shown.')} retry={() => window.location.reload()} />
      <a href="/">Back to your bots</a>
    </main>
  );
}
