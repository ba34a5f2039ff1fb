// A workspace's team pages: members and invitations, roles, the audit trail and settings.
// The workspace is the one chosen in the header (`?workspace_id=`), else the personal one.
import { NavLink, Route, Routes, useLocation } from 'react-router';
import { useActiveWorkspace, useWorkspaceParam } from '../api/workspaces';
import { roleWords } from '../lib/can';
import { Empty } from '../components/ui';
import Members from './Members';
import Roles from './Roles';
import Audit from './Audit';
import WorkspaceSettings from './WorkspaceSettings';

export default function Team() {
  const ws = useActiveWorkspace();
  const [chosen] = useWorkspaceParam();
  const { search } = useLocation();
  if (!ws) {
    return (
      <>
        <h1>Team</h1>
        <Empty>You are not a member of this workspace (any more). Pick another one in the header.</Empty>
      </>
    );
  }
  const tab = (to: string, label: string) => (
    <NavLink to={{ pathname: `/team${to}`, search }} end className={({ isActive }) => (isActive ? 'active' : '')}>
      {label}
    </NavLink>
  );
  return (
    <>
      <h1>
        {ws.name} <span className="muted small">· you have {roleWords(ws.role)}</span>
      </h1>
      {!chosen && <p className="muted small">Your personal workspace (choose a team workspace in the header to manage its team).</p>}
      <nav className="tabs" aria-label="Team sections">
        {tab('', 'Members')}
        {tab('/roles', 'Roles')}
        {tab('/audit', 'Audit')}
        {tab('/settings', 'Settings')}
      </nav>
      <Routes>
        <Route index element={<Members ws={ws} />} />
        <Route path="roles" element={<Roles ws={ws} />} />
        <Route path="audit" element={<Audit ws={ws} />} />
        <Route path="settings" element={<WorkspaceSettings ws={ws} />} />
      </Routes>
    </>
  );
}
