// A JDBC client the pgwire tests run: prepared statements past pgjdbc's prepareThreshold,
// a cursor-based fetch (fetchSize) and DatabaseMetaData, printed as key=value lines.
import java.sql.*;
import java.util.Properties;

public class PgjdbcProbe {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.setProperty("user", "agent");
        props.setProperty("password", args[1]);
        try (Connection conn = DriverManager.getConnection(args[0], props)) {
            System.out.println("product=" + conn.getMetaData().getDatabaseProductName());
            try (PreparedStatement ps = conn.prepareStatement(
                    "SELECT id, amount, created_at, price FROM orders WHERE status = ? AND id < ? ORDER BY id")) {
                for (int i = 0; i < 6; i++) {  // past prepareThreshold: a named server-side statement
                    ps.setString(1, "failed");
                    ps.setLong(2, 30);
                    try (ResultSet rs = ps.executeQuery()) {
                        StringBuilder sb = new StringBuilder();
                        while (rs.next()) {
                            sb.append(rs.getLong(1)).append('|').append(rs.getDouble(2)).append('|')
                              .append(rs.getTimestamp(3)).append('|').append(rs.getBigDecimal(4)).append(';');
                        }
                        if (i == 5) System.out.println("rows=" + sb);
                    }
                }
            }
            conn.setAutoCommit(false);
            try (Statement st = conn.createStatement()) {
                st.setFetchSize(1000);
                try (ResultSet rs = st.executeQuery("SELECT x FROM big")) {
                    long n = 0; while (rs.next()) n++;
                    System.out.println("fetched=" + n);
                }
            }
            conn.commit();
            try (ResultSet rs = conn.getMetaData().getColumns(null, "public", "orders", "%")) {
                StringBuilder sb = new StringBuilder();
                while (rs.next()) sb.append(rs.getString("COLUMN_NAME")).append(':').append(rs.getString("TYPE_NAME")).append(' ');
                System.out.println("columns=" + sb.toString().trim());
            }
        }
    }
}
