package httpapi

// routeTable is the whole HTTP surface in one place. A Tenant route acts
// on the principal's tenant only; the cross-tenant matrix test fails when a
// Tenant route here has no row there.
func (s *Server) routeTable() []Route {
	return []Route{
		// Operations.
		{Pattern: "GET /healthz", Access: Public, Unlimited: true, Handle: s.healthz},
		{Pattern: "GET /readyz", Access: Public, Unlimited: true, Handle: s.readyz},
		{Pattern: "GET /metrics", Access: Public, Unlimited: true, Handle: s.metricsHandler},
		{Pattern: "GET /api/v1/openapi.json", Access: Public, Handle: s.openapi},

		// First-run setup of the platform admin (a one-time link printed by serve).
		{Pattern: "GET /setup", Access: Public, Handle: s.setupPage},
		{Pattern: "POST /setup", Access: Public, Handle: s.setupSubmit},

		// Sign-in and the signed-in user.
		{Pattern: "POST /api/v1/auth/login", Access: Public, Handle: s.login},
		{Pattern: "POST /api/v1/auth/logout", Access: SessionOnly, Handle: s.logout},
		{Pattern: "GET /api/v1/auth/me", Access: Authenticated, Handle: s.me},
		{Pattern: "POST /api/v1/auth/switch-tenant", Access: SessionOnly, Handle: s.switchTenant},
		{Pattern: "POST /api/v1/auth/password", Access: SessionOnly, Handle: s.changePassword},
		{Pattern: "POST /api/v1/invitations/accept", Access: Public, Handle: s.acceptInvitation},

		// The principal's tenant.
		{Pattern: "GET /api/v1/tenant", Access: Tenant, Scope: "read", Handle: s.currentTenant},
		{Pattern: "GET /api/v1/api-keys", Access: Tenant, Scope: "admin", Handle: s.listKeys},
		{Pattern: "POST /api/v1/api-keys", Access: Tenant, Scope: "admin", Handle: s.createKey},
		{Pattern: "GET /api/v1/api-keys/{id}", Access: Tenant, Scope: "admin", Handle: s.getKey},
		{Pattern: "DELETE /api/v1/api-keys/{id}", Access: Tenant, Scope: "admin", Handle: s.revokeKey},
		{Pattern: "POST /api/v1/api-keys/{id}/rotate", Access: Tenant, Scope: "admin", Handle: s.rotateKey},
		{Pattern: "GET /api/v1/members", Access: Tenant, Scope: "read", Handle: s.listMembers},
		{Pattern: "POST /api/v1/members", Access: Tenant, Scope: "admin", Handle: s.inviteMember},
		{Pattern: "GET /api/v1/members/{id}", Access: Tenant, Scope: "read", Handle: s.getMember},
		{Pattern: "PATCH /api/v1/members/{id}", Access: Tenant, Scope: "admin", Handle: s.changeMemberRole},
		{Pattern: "DELETE /api/v1/members/{id}", Access: Tenant, Scope: "admin", Handle: s.removeMember},
		{Pattern: "GET /api/v1/invitations", Access: Tenant, Scope: "admin", Handle: s.listInvitations},
		{Pattern: "DELETE /api/v1/invitations/{id}", Access: Tenant, Scope: "admin", Handle: s.revokeInvitation},
		{Pattern: "GET /api/v1/audit-log", Access: Tenant, Scope: "admin", Handle: s.listAudit},

		// Assistants.
		{Pattern: "GET /api/v1/assistants", Access: Tenant, Scope: "read", Handle: s.listAssistants},
		{Pattern: "POST /api/v1/assistants", Access: Tenant, Scope: "admin", Handle: s.createAssistant},
		{Pattern: "GET /api/v1/assistants/{id}", Access: Tenant, Scope: "read", Handle: s.getAssistant},
		{Pattern: "PATCH /api/v1/assistants/{id}", Access: Tenant, Scope: "admin", Handle: s.updateAssistant},
		{Pattern: "DELETE /api/v1/assistants/{id}", Access: Tenant, Scope: "admin", Handle: s.deleteAssistant},

		// Provider webhooks: public, authenticated by the provider's
		// signature or secret token; not rate limited per IP (Meta and
		// Telegram deliver from a few addresses at high rates).
		{Pattern: "GET /webhooks/{channel_id}", Access: Public, Unlimited: true, Handle: s.verifyWebhook},
		{Pattern: "POST /webhooks/{channel_id}", Access: Public, Unlimited: true, MaxBody: webhookLimit, Handle: s.receiveWebhook},

		// Knowledge.
		{Pattern: "GET /api/v1/documents", Access: Tenant, Scope: "read", Handle: s.listDocuments},
		{Pattern: "POST /api/v1/documents", Access: Tenant, Scope: "admin", MaxBody: s.uploadLimit, Handle: s.createDocument},
		{Pattern: "GET /api/v1/documents/{id}", Access: Tenant, Scope: "read", Handle: s.getDocument},
		{Pattern: "PUT /api/v1/documents/{id}", Access: Tenant, Scope: "admin", MaxBody: s.uploadLimit, Handle: s.replaceDocument},
		{Pattern: "DELETE /api/v1/documents/{id}", Access: Tenant, Scope: "admin", Handle: s.deleteDocument},
		{Pattern: "POST /api/v1/documents/{id}/reindex", Access: Tenant, Scope: "admin", Handle: s.reindexDocument},
		{Pattern: "GET /api/v1/documents/{id}/chunks", Access: Tenant, Scope: "read", Handle: s.listChunks},
		{Pattern: "POST /api/v1/search", Access: Tenant, Scope: "read", Handle: s.search},

		{Pattern: "POST /api/v1/chat", Access: Tenant, Scope: "write", Handle: s.chat},

		// Analytics: the daily figures the periodic job computes.
		{Pattern: "GET /api/v1/analytics/daily", Access: Tenant, Scope: "read", Handle: s.analyticsDaily},

		// Channels and conversations.
		{Pattern: "GET /api/v1/channels", Access: Tenant, Scope: "read", Handle: s.listChannels},
		{Pattern: "POST /api/v1/channels", Access: Tenant, Scope: "admin", Handle: s.createChannel},
		{Pattern: "GET /api/v1/channels/{id}", Access: Tenant, Scope: "read", Handle: s.getChannel},
		{Pattern: "PATCH /api/v1/channels/{id}", Access: Tenant, Scope: "admin", Handle: s.updateChannel},
		{Pattern: "DELETE /api/v1/channels/{id}", Access: Tenant, Scope: "admin", Handle: s.deleteChannel},
		{Pattern: "GET /api/v1/conversations", Access: Tenant, Scope: "read", Handle: s.listConversations},
		{Pattern: "GET /api/v1/conversations/{id}", Access: Tenant, Scope: "read", Handle: s.getConversation},
		{Pattern: "GET /api/v1/conversations/{id}/messages", Access: Tenant, Scope: "read", Handle: s.listMessages},
		{Pattern: "POST /api/v1/conversations/{id}/messages", Access: Tenant, Scope: "write", Handle: s.postMessage},
		{Pattern: "POST /api/v1/conversations/{id}/template", Access: Tenant, Scope: "write", Handle: s.sendTemplate},
		{Pattern: "GET /api/v1/messages/{id}/media", Access: Tenant, Scope: "read", Handle: s.listMedia},
		{Pattern: "GET /api/v1/media/{id}", Access: Tenant, Scope: "read", Handle: s.getMedia},
		{Pattern: "POST /api/v1/conversations/{id}/handoff", Access: Tenant, Scope: "write", Handle: s.handoff},
		{Pattern: "POST /api/v1/conversations/{id}/handback", Access: Tenant, Scope: "write", Handle: s.handback},
		{Pattern: "POST /api/v1/conversations/{id}/resolve", Access: Tenant, Scope: "write", Handle: s.resolve},

		// The web widget (public; the key and origin are checked per channel).
		{Pattern: "GET /widget.js", Access: Public, Unlimited: true, Handle: s.widget.Loader},
		{Pattern: "GET /widget/frame", Access: Public, Handle: s.widget.Frame},
		{Pattern: "GET /widget/assets/{name}", Access: Public, Unlimited: true, Handle: s.widget.Asset},
		{Pattern: "POST /api/v1/widget/sessions", Access: Public, Handle: s.widgetSession},
		{Pattern: "GET /api/v1/widget/ws", Access: Public, Handle: s.widget.WS},

		// Platform administration.
		{Pattern: "GET /api/v1/admin/tenants", Access: PlatformAdmin, Handle: s.adminListTenants},
		{Pattern: "POST /api/v1/admin/tenants", Access: PlatformAdmin, Handle: s.adminCreateTenant},
		{Pattern: "GET /api/v1/admin/tenants/{id}", Access: PlatformAdmin, Handle: s.adminGetTenant},
		{Pattern: "POST /api/v1/admin/tenants/{id}/suspend", Access: PlatformAdmin, Handle: s.adminSuspendTenant},
		{Pattern: "POST /api/v1/admin/tenants/{id}/reactivate", Access: PlatformAdmin, Handle: s.adminReactivateTenant},
	}
}
