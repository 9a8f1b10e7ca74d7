# Test messages for the integration tests (bash); harness.sh sources it.
#
#	mail_write FILE FROM TO SUBJECT DATE ID [HEADER...] [-- BODY...]
#	                                   write a text/plain message; DATE
#	                                   "now" is the current time, DATE or
#	                                   ID "-" leaves that header out;
#	                                   HEADERs ("Name: value") come after
#	                                   Message-ID; BODY lines replace the
#	                                   default one-line body
#	mail_append USER PASSWORD FOLDER FILE...
#	                                   APPEND each FILE over IMAP, or bail
#	                                   out
#	mail_deliver USER PASSWORD COUNT TAG
#	                                   COUNT new messages into USER's
#	                                   INBOX over IMAP, dated now, each
#	                                   from its own client; Message-IDs
#	                                   <TAG-K@client.example>, K counting
#	                                   the test's messages from 1
#
# Bulk loads go straight into a Maildir: maildir_deliver (dovecot.sh).

_mail_n=0

mail_write()
{
	local file=$1 from=$2 to=$3 subject=$4 date=$5 id=$6 line
	local -a body=("Body of \"$subject\".")
	shift 6
	[ "$date" = now ] && date=$(date -R)
	{
		echo "From: $from"
		echo "To: $to"
		echo "Subject: $subject"
		[ "$date" = - ] || echo "Date: $date"
		[ "$id" = - ] || echo "Message-ID: <$id>"
		while [ $# -gt 0 ] && [ "$1" != -- ]; do
			echo "$1"
			shift
		done
		if [ $# -gt 0 ]; then
			shift
			body=("$@")
		fi
		echo "MIME-Version: 1.0"
		echo "Content-Type: text/plain; charset=utf-8"
		echo
		for line in "${body[@]}"; do
			echo "$line"
		done
	} >"$file"
}

mail_append()
{
	local user=$1 password=$2 folder=$3 file
	shift 3
	for file in "$@"; do
		imap_append "$user" "$password" "$folder" "$file" >/dev/null ||
		    bail_out "APPEND $file to $user $folder failed"
	done
}

mail_deliver()
{
	local user=$1 password=$2 count=$3 tag=$4 i
	for ((i = 0; i < count; i++)); do
		_mail_n=$((_mail_n + 1))
		mail_write "$TEST_TMP/deliver.eml" \
		    "Client $_mail_n <client$_mail_n@client.example>" "$user" \
		    "$tag $_mail_n" now "$tag-$_mail_n@client.example"
		mail_append "$user" "$password" INBOX "$TEST_TMP/deliver.eml"
	done
}
