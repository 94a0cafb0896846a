package syncserver

// NotifyAll pushes a Notify of topic to every connected site and returns
// how many it reached. A replica calls it when it may have missed changes
// (its PostgreSQL listener reconnected): each site then fetches from its
// cursor, which is harmless when nothing is new.
func (s *Server) NotifyAll(topic string) int {
	s.mu.Lock()
	clients := make([]string, 0, len(s.sessions))
	for c := range s.sessions {
		clients = append(clients, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range clients {
		n += s.Notify(c, "", topic, 0)
	}
	return n
}
