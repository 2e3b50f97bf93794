"""HTTP pieces with no feature in them: requests, responses and problems, body parsing,
conditional requests, signed-cookie sessions and server-sent-event framing."""
